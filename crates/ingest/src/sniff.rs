//! What a file is, from its first bytes, and which encodings its lines are
//! in: an empty file, a spreadsheet or a binary file is refused with a
//! message saying so; a UTF-8 byte-order mark is noted and skipped; each
//! line is decoded as UTF-8 or, failing that, Windows-1252.

use std::borrow::Cow;

use crate::{IngestError, Result};

/// How many bytes at the start of a file are looked at for NUL bytes.
const BINARY_SNIFF_BYTES: usize = 8192;

/// The UTF-8 byte-order mark some Windows tools write first.
pub(crate) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Looks at the start of a file (as much as is buffered): refuses a file
/// that is empty, an Excel workbook, or not text at all, and otherwise
/// returns the encodings seen so far (a byte-order mark, when it has one).
pub(crate) fn sniff(file: &str, start: &[u8]) -> Result<Encodings> {
    if start.is_empty() {
        return Err(IngestError::EmptyFile {
            file: file.to_string(),
        });
    }
    // An Excel workbook (xlsx is a zip; xls an OLE file) in a CSV source: say
    // so, rather than "not a text file".
    if start.starts_with(b"PK\x03\x04") || start.starts_with(b"\xD0\xCF\x11\xE0") {
        return Err(IngestError::Spreadsheet {
            file: file.to_string(),
        });
    }
    if start.iter().take(BINARY_SNIFF_BYTES).any(|b| *b == 0) {
        return Err(IngestError::NotText {
            file: file.to_string(),
        });
    }
    Ok(Encodings {
        bom: start.starts_with(UTF8_BOM),
        ..Encodings::default()
    })
}

/// Tracks which encodings a file's lines were in.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Encodings {
    pub bom: bool,
    pub utf8_beyond_ascii: bool,
    pub windows_1252: bool,
}

impl Encodings {
    /// Decodes one line or field: UTF-8 when it is valid UTF-8, otherwise
    /// Windows-1252 (which decodes any byte), so a file mixing the two keeps
    /// both intact rather than garbling one kind.
    pub(crate) fn decode<'a>(&mut self, bytes: &'a [u8]) -> Cow<'a, str> {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                self.utf8_beyond_ascii |= !s.is_ascii();
                Cow::Borrowed(s)
            }
            Err(_) => {
                self.windows_1252 = true;
                encoding_rs::WINDOWS_1252
                    .decode_without_bom_handling(bytes)
                    .0
            }
        }
    }

    /// The file's encoding in words, as the load reports it.
    pub(crate) fn label(&self) -> &'static str {
        match (self.windows_1252, self.utf8_beyond_ascii || self.bom) {
            (true, true) => "mixed UTF-8 and Windows-1252",
            (true, false) => "Windows-1252",
            (false, _) if self.bom => "UTF-8 with BOM",
            (false, _) => "UTF-8",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_spreadsheet_and_binary_files_are_refused_by_name() {
        let message = |start: &[u8]| sniff("f.csv", start).unwrap_err().to_string();
        assert_eq!(message(b""), "f.csv: the file is empty");
        let workbook = "f.csv: this is an Excel workbook; peerbench reads CSV extracts: save the sheet as CSV (UTF-8) from Excel, or ask for the CSV release of the publication";
        assert_eq!(message(b"PK\x03\x04rest"), workbook);
        assert_eq!(message(b"\xD0\xCF\x11\xE0rest"), workbook);
        assert_eq!(
            message(b"a,b\n1,\x002\n"),
            "f.csv: this is not a text file (it contains NUL bytes); expected a CSV extract"
        );
        // A NUL beyond the bytes looked at is left to the reader.
        let late = [vec![b'a'; BINARY_SNIFF_BYTES], vec![0]].concat();
        assert!(sniff("f.csv", &late).is_ok());
    }

    #[test]
    fn a_byte_order_mark_is_noted() {
        let with = sniff("f.csv", b"\xEF\xBB\xBFa,b\n").unwrap();
        assert_eq!((with.bom, with.label()), (true, "UTF-8 with BOM"));
        let without = sniff("f.csv", b"a,b\n").unwrap();
        assert_eq!((without.bom, without.label()), (false, "UTF-8"));
    }

    #[test]
    fn lines_are_decoded_as_utf8_or_windows_1252_and_the_mix_is_named() {
        let mut e = Encodings::default();
        assert_eq!(e.decode(b"plain"), "plain");
        assert_eq!(e.label(), "UTF-8");
        assert_eq!(e.decode(b"Caf\xE9"), "Café");
        assert_eq!(e.label(), "Windows-1252");
        assert_eq!(e.decode("Zoë".as_bytes()), "Zoë");
        assert_eq!(e.label(), "mixed UTF-8 and Windows-1252");
    }
}
