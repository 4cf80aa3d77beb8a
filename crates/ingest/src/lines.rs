//! A file as the rows' checks see it: its bytes sniffed (see
//! [`crate::sniff`]), line endings made LF, lines longer than
//! [`MAX_LINE_BYTES`] refused, split into records (see [`crate::records`])
//! and decoded line by line.

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;

use csv::{ByteRecord, StringRecord};

use crate::records::{NewlinesAsLf, Record, Records, Unclosed};
use crate::sniff::{Encodings, UTF8_BOM, sniff};
use crate::{IngestError, Result};

/// The longest line peerbench reads. Real extract lines are a few hundred
/// bytes; a line of megabytes is a broken export (a missing newline
/// convention, binary appended), and holding it whole would let one file
/// exhaust memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// A record as the row checks see it.
pub(crate) enum Row {
    Fields(StringRecord),
    UnbalancedQuote { text: String, why: Unclosed },
}

/// The line at which a [`LineLimited`] reader stopped, shared with the
/// code that turns its I/O error into a message.
type OverlongAt = Rc<Cell<Option<usize>>>;

/// A reader that refuses lines longer than [`MAX_LINE_BYTES`], remembering
/// at which line it stopped.
struct LineLimited<R> {
    inner: R,
    run: usize,
    newlines: usize,
    limit: usize,
    overlong_at: OverlongAt,
}

impl<R: Read> Read for LineLimited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        // Only the stretches between newlines matter: the first continues
        // the previous chunk's last line, the last carries on into the next.
        let mut start = 0;
        for i in memchr::memchr_iter(b'\n', chunk) {
            if self.run + (i - start) > self.limit {
                return Err(self.overlong());
            }
            self.newlines += 1;
            self.run = 0;
            start = i + 1;
        }
        self.run += n - start;
        if self.run > self.limit {
            return Err(self.overlong());
        }
        Ok(n)
    }
}

impl<R> LineLimited<R> {
    fn overlong(&self) -> std::io::Error {
        self.overlong_at.set(Some(self.newlines + 1));
        std::io::Error::new(std::io::ErrorKind::InvalidData, "line too long")
    }
}

/// One file's records, decoded, with the encodings seen so far.
pub(crate) struct Lines<'f, R: Read> {
    file: &'f str,
    records: Records<BufReader<LineLimited<NewlinesAsLf<R>>>>,
    encodings: Encodings,
    overlong_at: OverlongAt,
}

impl<'f, R: Read> Lines<'f, R> {
    /// Starts reading `input` (already decompressed), named `file` in
    /// messages: a file that is empty, a spreadsheet or binary is refused
    /// here; a byte-order mark is skipped.
    pub(crate) fn open(file: &'f str, input: R, max_quoted_lines: usize) -> Result<Self> {
        let overlong_at = OverlongAt::default();
        let mut input = BufReader::with_capacity(
            1 << 20,
            LineLimited {
                inner: NewlinesAsLf::new(input),
                run: 0,
                newlines: 0,
                limit: MAX_LINE_BYTES,
                overlong_at: overlong_at.clone(),
            },
        );
        // What the file starts with says whether it is text at all.
        let start = input
            .fill_buf()
            .map_err(|e| read_error(file, &overlong_at, e, 1))?;
        let encodings = sniff(file, start)?;
        if encodings.bom {
            input.consume(UTF8_BOM.len());
        }
        let mut records = Records::new(input, 1);
        records.max_quoted_lines = max_quoted_lines;
        Ok(Lines {
            file,
            records,
            encodings,
            overlong_at,
        })
    }

    /// The number the next line read will have.
    pub(crate) fn next_line_number(&self) -> usize {
        self.records.next_line_number()
    }

    /// The next record as the splitter returns it (used for the header).
    pub(crate) fn next_record(&mut self) -> Result<Option<Record>> {
        let at = self.records.next_line_number();
        self.records
            .next_record()
            .map_err(|e| read_error(self.file, &self.overlong_at, e, at))
    }

    /// A record's fields as text, trimmed (a header line's names).
    pub(crate) fn decode_trimmed(&mut self, fields: &ByteRecord) -> Vec<String> {
        fields
            .iter()
            .map(|f| self.encodings.decode(f).trim().to_string())
            .collect()
    }

    /// The next row after the header, whose line has `fields_expected`
    /// fields, with the line it starts on; None at the end of the file.
    pub(crate) fn next_row(&mut self, fields_expected: usize) -> Result<Option<(usize, Row)>> {
        let record = match self.next_record()? {
            None => return Ok(None),
            // A record spanning lines whose field count is wrong was closed by
            // a quote further down, not its own: its first line is the
            // unbalanced quote, and the lines after it are rows.
            Some(Record::Fields {
                lines, ref fields, ..
            }) if lines > 1 && fields.len() != fields_expected => {
                let found = fields.len();
                self.records.take_back(found)
            }
            Some(r) => r,
        };
        Ok(Some(match record {
            Record::Fields { line, fields, .. } => (line, Row::Fields(self.decode_row(fields))),
            Record::UnbalancedQuote { line, text, why } => (
                line,
                Row::UnbalancedQuote {
                    text: self.encodings.decode(&text).into_owned(),
                    why,
                },
            ),
        }))
    }

    /// Hands back a row's record once its fields have been used: the next
    /// row is read into its buffers.
    pub(crate) fn recycle(&mut self, record: StringRecord) {
        self.records.recycle(record.into_byte_record());
    }

    /// A row's fields as text: all at once when the line is UTF-8, field
    /// by field otherwise.
    fn decode_row(&mut self, fields: ByteRecord) -> StringRecord {
        match StringRecord::from_byte_record(fields) {
            Ok(r) => {
                self.encodings.utf8_beyond_ascii |= !r.as_slice().is_ascii();
                r
            }
            Err(e) => e
                .into_byte_record()
                .iter()
                .map(|f| self.encodings.decode(f).into_owned())
                .collect(),
        }
    }

    /// The file's encoding in words, from the lines read so far.
    pub(crate) fn encoding(&self) -> &'static str {
        self.encodings.label()
    }
}

/// The error for a read that failed at `line`: an overlong line when the
/// limit stopped it, otherwise the stream itself failing.
fn read_error(file: &str, overlong_at: &OverlongAt, e: std::io::Error, line: usize) -> IngestError {
    match overlong_at.get() {
        Some(at) => IngestError::LineTooLong {
            file: file.to_string(),
            line: at,
            limit: MAX_LINE_BYTES,
        },
        None => IngestError::Stream {
            file: file.to_string(),
            line,
            reason: e.to_string(),
        },
    }
}
