//! Property-based tests of the extract reader: whatever bytes arrive (line
//! endings of every convention, stray and doubled quotes, other encodings,
//! BOMs, NULs, truncation), reading never panics and the books balance:
//! every row read is loaded or set aside, and in a file without quotes every
//! non-blank line after the header is a row read.
//!
//! CI runs a short run (`PROPTEST_CASES`, 64 cases by default);
//! `scripts/fuzz` runs a long one.

use proptest::prelude::*;

use crate::IngestError;
use crate::read::read_file;
use crate::shape::builtin;

const HEADER: &str = "Organisation Code,Period End,Search Code,Search Name,Numerator,Denominator";

/// Pieces rows are made of: good values, awkward ones and hostile ones.
fn field() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => Just(b"A81001".to_vec()),
        2 => Just(b"30/09/2026".to_vec()),
        3 => (0u32..2000).prop_map(|n| n.to_string().into_bytes()),
        1 => Just(b"*".to_vec()),
        1 => Just(b"\"quoted, with comma\"".to_vec()),
        1 => Just(b"\"doubled \"\" quote\"".to_vec()),
        1 => Just(b"\"".to_vec()),
        1 => Just(b"ab\"c".to_vec()),
        1 => Just(b"\"open".to_vec()),
        1 => Just(b"99999999999999999999".to_vec()),
        1 => Just(b"a81001".to_vec()),
        1 => Just(b"Zo\xEB Lane".to_vec()),
        1 => Just("Zoë Lane".as_bytes().to_vec()),
        1 => Just(b"=HYPERLINK(\"x\")".to_vec()),
        1 => Just(b"".to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..12),
    ]
}

fn line_ending() -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..]), Just(&b"\r"[..])]
}

/// A file: optional BOM and title lines, the header, rows of 4–8 fields,
/// blank lines, every row ended by any convention, maybe cut short.
fn extract() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<bool>(),
        prop::collection::vec("[A-Za-z :]{0,20}", 0..3),
        prop::collection::vec(
            (
                prop::collection::vec(field(), 4..8),
                line_ending(),
                any::<bool>(),
            ),
            0..40,
        ),
        line_ending(),
        prop::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(|(bom, titles, rows, eol, cut)| {
            let mut out = Vec::new();
            if bom {
                out.extend_from_slice(b"\xEF\xBB\xBF");
            }
            for t in titles {
                out.extend_from_slice(t.as_bytes());
                out.extend_from_slice(eol);
            }
            out.extend_from_slice(HEADER.as_bytes());
            out.extend_from_slice(eol);
            for (fields, eol, blank_after) in rows {
                out.extend_from_slice(&fields.join(&b","[..]));
                out.extend_from_slice(eol);
                if blank_after {
                    out.extend_from_slice(eol);
                }
            }
            if let Some(cut) = cut {
                let at = cut.index(out.len() + 1);
                out.truncate(at);
            }
            out
        })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// Reading `bytes` never panics, and when it reads rows its books balance.
fn read_balances(bytes: &[u8]) -> Result<(), TestCaseError> {
    let shape = builtin("clinical_search").expect("built-in shape");
    match read_file("searches", "fuzz.csv", bytes, &shape, None) {
        Ok(read) => {
            prop_assert_eq!(
                read.rows_read,
                read.batch.num_rows() + read.quarantined.len(),
                "rows read must be loaded or set aside"
            );
            // Without quotes each non-blank line after the header is one row
            // (an independent count: lines split by hand, any convention).
            if !bytes.contains(&b'"') && !bytes.contains(&0) {
                let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
                let lines: Vec<&[u8]> = text
                    .split(|b| *b == b'\n' || *b == b'\r')
                    .collect::<Vec<_>>();
                // CRLF splits into a line and an empty one: drop empties.
                let non_blank: Vec<&[u8]> = lines
                    .into_iter()
                    .filter(|l| !l.iter().all(|b| b.is_ascii_whitespace() || *b == b','))
                    .collect();
                let header_at = non_blank
                    .iter()
                    .position(|l| *l == HEADER.as_bytes())
                    .expect("the header is present when reading succeeds");
                prop_assert_eq!(read.rows_read, non_blank.len() - header_at - 1);
            }
        }
        Err(IngestError::Unbalanced { .. })
        | Err(IngestError::Arrow { .. })
        | Err(IngestError::Spool { .. }) => {
            return Err(TestCaseError::fail("the reader lost track of rows"));
        }
        // A file that cannot be read at all (no header, empty, binary) is
        // refused whole with a message: that is an accounted outcome.
        Err(_) => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn extracts_balance_whatever_their_shape(bytes in extract()) {
        read_balances(&bytes)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        read_balances(&bytes)?;
    }

    #[test]
    fn arbitrary_bytes_after_a_header_balance(tail in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut bytes = format!("{HEADER}\n").into_bytes();
        bytes.extend(tail);
        read_balances(&bytes)?;
    }
}
