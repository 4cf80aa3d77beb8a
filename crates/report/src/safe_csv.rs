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
/// (so an empty table still says what its columns are).
pub struct CsvWriter<W: Write> {
    inner: csv::Writer<W>,
    /// The row and a number's digits, reused from row to row: the national
    /// results table is 70 million numbers, each of which was a new String.
    record: csv::ByteRecord,
    digits: Vec<u8>,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W, header: &[&str]) -> csv::Result<Self> {
        let mut inner = csv::Writer::from_writer(out);
        inner.write_record(header.iter().map(|h| neutralise(h).into_owned()))?;
        Ok(CsvWriter {
            inner,
            record: csv::ByteRecord::new(),
            digits: Vec::new(),
        })
    }

    pub fn row<'a>(&mut self, cells: impl IntoIterator<Item = Cell<'a>>) -> csv::Result<()> {
        let CsvWriter {
            inner,
            record,
            digits,
        } = self;
        record.clear();
        for cell in cells {
            digits.clear();
            // Writing into a Vec cannot fail.
            match cell {
                Cell::Text(t) => record.push_field(neutralise(t).as_bytes()),
                Cell::Number(Some(v)) => {
                    let _ = write!(digits, "{v}");
                    record.push_field(digits);
                }
                Cell::Number(None) => record.push_field(b""),
                Cell::Whole(n) => {
                    let _ = write!(digits, "{n}");
                    record.push_field(digits);
                }
            }
        }
        inner.write_byte_record(record)
    }

    /// Flushes and hands back the output.
    pub fn finish(self) -> Result<W, std::io::Error> {
        self.inner
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
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
