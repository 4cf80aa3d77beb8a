//! Every CSV peerbench writes goes through here, because its readers open
//! them in spreadsheets. Text from outside (practice names from the register,
//! group keys, quarantined lines) may begin with `=`, `+`, `-` or `@`, which
//! a spreadsheet runs as a formula (`=HYPERLINK(…)`, `+cmd|' /C calc'!A0`):
//! such text is neutralised (OWASP, "CSV injection"), numbers never are.
//! The Parquet table is not opened by spreadsheets and keeps exact text.

use std::borrow::Cow;
use std::io::Write;

/// Text as a spreadsheet may show it: a cell beginning with `=`, `+`, `-`,
/// `@`, a tab or a carriage return gets a leading `'`, so it stays text and
/// is never evaluated (OWASP's rule). The workbook uses the same rule.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    match text.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

/// Appends `v` to `out` exactly as `format!("{v}")` writes it (the
/// shortest digits that read back as `v`, in plain decimal notation), by
/// way of ryu, which finds those digits in a third of the time: the
/// national results table is 70 million numbers, and formatting them was
/// the largest cost of writing it after compression.
fn display_f64(out: &mut Vec<u8>, shortest: &mut ryu::Buffer, v: f64) {
    if !v.is_finite() || !no_tie(v) {
        let _ = write!(out, "{v}");
        return;
    }
    let text = shortest.format_finite(v).as_bytes();
    let (sign, unsigned) = match text.split_first() {
        Some((b'-', rest)) => (&b"-"[..], rest),
        _ => (&b""[..], text),
    };
    out.extend_from_slice(sign);
    let Some(e) = unsigned.iter().position(|&b| b == b'e') else {
        // Plain already; a whole number is written without ryu's ".0".
        out.extend_from_slice(unsigned.strip_suffix(b".0").unwrap_or(unsigned));
        return;
    };
    // d.ddde±x: the digits, and how many of them stand before the point.
    let (mantissa, exponent) = (&unsigned[..e], &unsigned[e + 1..]);
    let exponent: i64 = std::str::from_utf8(exponent)
        .ok()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    let digits: Vec<u8> = mantissa.iter().copied().filter(|&b| b != b'.').collect();
    let before_point = 1 + exponent;
    if before_point <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(
            b'0',
            before_point.unsigned_abs() as usize,
        ));
        out.extend_from_slice(&digits);
    } else if before_point as usize >= digits.len() {
        out.extend_from_slice(&digits);
        out.extend(std::iter::repeat_n(
            b'0',
            before_point as usize - digits.len(),
        ));
    } else {
        let (whole, fraction) = digits.split_at(before_point as usize);
        out.extend_from_slice(whole);
        out.push(b'.');
        out.extend_from_slice(fraction);
    }
}

/// Whether `v` cannot lie exactly midway between two shortest
/// candidates, where ryu (half to even) and the standard library (half
/// up) choose differently. A tie needs `v`'s exact decimal expansion to
/// end one digit past the shortest, so within 18 significant digits. An
/// integer below 2^53 is its own shortest form; `m`·2^-k with `m` odd and
/// k ≥ 28 has at least as many digits as 5^28 (20). Other values (rare in
/// a results table: large numbers with a few binary fraction digits) are
/// left to the standard library.
fn no_tie(v: f64) -> bool {
    if v == 0.0 {
        return true;
    }
    if v.fract() == 0.0 {
        return v.abs() < 9_007_199_254_740_992.0;
    }
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    let mantissa = if biased == 0 {
        bits & ((1 << 52) - 1)
    } else {
        (bits & ((1 << 52) - 1)) | (1 << 52)
    };
    let exponent = if biased == 0 { -1074 } else { biased - 1075 };
    // v = mantissa · 2^exponent; its lowest set bit is 2^-k.
    let k = -(exponent + i64::from(mantissa.trailing_zeros()));
    k >= 28
}

/// One cell of a CSV row: text is neutralised, numbers are written as they
/// are (`-0.5` stays a number).
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    Text(&'a str),
    /// Full precision; empty when missing.
    Number(Option<f64>),
    Whole(u64),
}

/// A CSV writer whose rows are [`Cell`]s, with its header row written first
/// (so an empty table still says what its columns are). It writes what the
/// `csv` crate writes by default (fields quoted only where they must be,
/// `"` doubled, `\n` after each row; the tests hold it to that) straight
/// into one buffer: numbers never need quotes, and the national results
/// table is 70 million of them, each of which the `csv` crate copied twice
/// and looked through for a quote. The last rows reach `out` only through
/// [`CsvWriter::finish`]: nothing is written on drop, where a failed write
/// could not be reported.
pub struct CsvWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    shortest: ryu::Buffer,
}

/// How much a writer holds before handing it on.
const CSV_BUFFER: usize = 1 << 16;

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W, header: &[&str]) -> csv::Result<Self> {
        let mut w = CsvWriter::continuing(out);
        w.row(header.iter().map(|h| Cell::Text(h)))?;
        Ok(w)
    }

    /// A writer that goes on from rows written elsewhere: no header.
    pub fn continuing(out: W) -> Self {
        CsvWriter {
            out,
            buf: Vec::with_capacity(CSV_BUFFER + 4096),
            shortest: ryu::Buffer::new(),
        }
    }

    pub fn row<'a>(&mut self, cells: impl IntoIterator<Item = Cell<'a>>) -> csv::Result<()> {
        let CsvWriter { buf, shortest, .. } = self;
        let row_started = buf.len();
        let mut fields = 0;
        for cell in cells {
            if fields > 0 {
                buf.push(b',');
            }
            fields += 1;
            match cell {
                Cell::Text(t) => quoted_if_needed(buf, neutralise(t).as_bytes()),
                Cell::Number(Some(v)) => display_f64(buf, shortest, v),
                Cell::Number(None) => {}
                Cell::Whole(n) => {
                    // Writing into a Vec cannot fail.
                    let _ = write!(buf, "{n}");
                }
            }
        }
        // A row of one empty field would read back as no field at all.
        if fields == 1 && buf.len() == row_started {
            buf.extend_from_slice(b"\"\"");
        }
        buf.push(b'\n');
        if buf.len() >= CSV_BUFFER {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Flushes and hands back the output.
    pub fn finish(mut self) -> Result<W, std::io::Error> {
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A text field as the `csv` crate writes it by default: in quotes, with
/// its quotes doubled, when it holds a comma, a quote or a line break.
fn quoted_if_needed(buf: &mut Vec<u8>, field: &[u8]) {
    if !field
        .iter()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
    {
        buf.extend_from_slice(field);
        return;
    }
    buf.push(b'"');
    for &b in field {
        if b == b'"' {
            buf.push(b'"');
        }
        buf.push(b);
    }
    buf.push(b'"');
}

/// A whole CSV in memory: `header`, then each row.
pub fn csv_bytes<'a>(
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<Cell<'a>>>,
) -> Result<Vec<u8>, csv::Error> {
    let mut w = CsvWriter::new(Vec::new(), header)?;
    for r in rows {
        w.row(r)?;
    }
    w.finish().map_err(csv::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `display_f64` against the standard library's `{}` on edge values
    /// and on two million pseudo-random bit patterns (every exponent,
    /// subnormals included).
    #[test]
    fn numbers_are_written_as_rust_displays_them() {
        let mut shortest = ryu::Buffer::new();
        let check = |v: f64, shortest: &mut ryu::Buffer| {
            let mut out = Vec::new();
            display_f64(&mut out, shortest, v);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{v}"), "{v:e}");
        };
        for v in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.5,
            1e-5,
            1e-4,
            1.5e-5,
            123456.0,
            1e15,
            1e16,
            1e17,
            1.2345e20,
            9007199254740993.0,
            1394865425023536.0 + 0.25, // midway between ...536.2 and ...536.3
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.1 + 0.2,
            2.0 / 3.0,
        ] {
            check(v, &mut shortest);
        }
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..2_000_000 {
            // xorshift64*: a fixed sequence, so a failure can be replayed.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let bits = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
            check(f64::from_bits(bits), &mut shortest);
            // And numbers of the size a results table holds.
            check((bits >> 11) as f64 / (1u64 << 40) as f64, &mut shortest);
        }
    }

    /// The writer against the `csv` crate's own on awkward text: commas,
    /// quotes, line breaks, empty fields, rows of one field.
    #[test]
    fn rows_are_written_as_the_csv_crate_writes_them() {
        let texts = [
            "",
            "a",
            "a,b",
            "say \"hi\"",
            "\"",
            "\"\"",
            "line\nbreak",
            "cr\rlf",
            "\r\n",
            ",",
            " padded ",
            "#hash",
            "tab\tin",
            "'quoted'",
            "Ünïcode, too",
            "=formula",
            "-1",
        ];
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        };
        let mut rows: Vec<Vec<Cell>> = Vec::new();
        for _ in 0..20_000 {
            let width = 1 + (next() % 5) as usize;
            rows.push(
                (0..width)
                    .map(|_| match next() % 4 {
                        0 => Cell::Number(Some(f64::from_bits(next()))),
                        1 => Cell::Number(None),
                        2 => Cell::Whole(next() % 1000),
                        _ => Cell::Text(texts[(next() % texts.len() as u64) as usize]),
                    })
                    .collect(),
            );
        }
        rows.push(vec![Cell::Text("")]);
        rows.push(vec![Cell::Number(None)]);
        let ours = csv_bytes(&["h,1", ""], rows.clone()).unwrap();
        let mut theirs = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        theirs.write_record(["h,1", ""]).unwrap();
        for row in rows {
            theirs
                .write_record(row.iter().map(|c| match *c {
                    Cell::Text(t) => neutralise(t).into_owned(),
                    Cell::Number(Some(v)) => format!("{v}"),
                    Cell::Number(None) => String::new(),
                    Cell::Whole(n) => n.to_string(),
                }))
                .unwrap();
        }
        let theirs = theirs.into_inner().unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(theirs).unwrap()
        );
    }

    #[test]
    fn formula_text_is_neutralised_and_numbers_are_not() {
        for (text, shown) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("@SUM(1)", "'@SUM(1)"),
            ("-2+3", "'-2+3"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("Abbey Surgery", "Abbey Surgery"),
            ("A=1", "A=1"),
            ("", ""),
        ] {
            assert_eq!(neutralise(text), shown, "{text:?}");
        }
        let bytes = csv_bytes(
            &["name", "value", "line"],
            [
                vec![Cell::Text("-2+3"), Cell::Number(Some(-0.5)), Cell::Whole(7)],
                vec![Cell::Text("a,b"), Cell::Number(None), Cell::Whole(8)],
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "name,value,line\n'-2+3,-0.5,7\n\"a,b\",,8\n"
        );
        assert_eq!(csv_bytes(&["a", "b"], []).unwrap(), b"a,b\n");
    }
}
