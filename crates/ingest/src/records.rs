//! Splitting an extract into records: line endings of every convention, and
//! quoted fields that do not close.
//!
//! The `csv` crate reads a record until its quotes balance, however far that
//! is: one stray quote at row 900 of a 1,000-row file swallows the last 100
//! rows into a single malformed record. Here a record is built line by line
//! (each line parsed by `csv_core`), and a quoted field still open after
//! [`Records::max_quoted_lines`] more lines, or at the end of the file, is
//! an unbalanced quote: the line where it opened is set aside on its own and
//! the lines after it are read again as rows.

use std::collections::VecDeque;
use std::io::{BufRead, Read};

use csv::ByteRecord;

/// How many lines a quoted field may run on past the line where it opened
/// before it is taken for an unbalanced quote. Real extracts almost never
/// hold line breaks inside fields; a free-text description may, briefly.
pub const MAX_QUOTED_LINES: usize = 10;

/// A reader that turns CR-only and CRLF line endings into LF, so old Mac
/// saves (CR only) are read as lines rather than as one line holding the
/// whole file.
pub struct NewlinesAsLf<R> {
    inner: R,
    /// The previous chunk ended with CR: an LF starting this one belongs to it.
    after_cr: bool,
}

impl<R> NewlinesAsLf<R> {
    pub fn new(inner: R) -> Self {
        NewlinesAsLf {
            inner,
            after_cr: false,
        }
    }
}

impl<R: Read> Read for NewlinesAsLf<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.inner.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            // Most files have no CR at all: their chunks pass as they are.
            if !self.after_cr && memchr::memchr(b'\r', &buf[..n]).is_none() {
                return Ok(n);
            }
            let mut out = 0;
            for i in 0..n {
                let b = buf[i];
                let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
                match b {
                    b'\r' => {
                        buf[out] = b'\n';
                        out += 1;
                    }
                    b'\n' if after_cr => {} // the LF of a CRLF already written
                    _ => {
                        buf[out] = b;
                        out += 1;
                    }
                }
            }
            // A chunk that was a lone LF after a CR yields nothing; returning
            // 0 would read as the end of the file.
            if out > 0 {
                return Ok(out);
            }
        }
    }
}

/// One record as read, with the line it starts on.
pub enum Record {
    /// A record's fields. `lines` is how many lines it spans (more than one
    /// only when a quoted field holds line breaks).
    Fields {
        line: usize,
        lines: usize,
        fields: ByteRecord,
    },
    /// A line whose quoted field did not close as part of a row: the line
    /// itself (without its newline); the lines after it are read again.
    UnbalancedQuote {
        line: usize,
        text: Vec<u8>,
        why: Unclosed,
    },
}

/// Why a quote that opens on a line was taken as stray.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unclosed {
    /// The file ended inside the quoted field.
    PastEnd,
    /// The field ran on for more lines than allowed (`max_quoted_lines`).
    TooManyLines,
    /// The next quote, on line `at`, closed it, but the record that made
    /// had `fields` fields where the header has another number: that quote
    /// belongs to another row.
    ClosedByAnotherRow { at: usize, fields: usize },
}

/// Records of a CSV stream whose line endings are already LF.
pub struct Records<R> {
    input: R,
    /// The number of the next line read from `input` (1-based).
    next_line: usize,
    /// Lines to read again, in order, before reading `input`.
    replay: VecDeque<(usize, Vec<u8>)>,
    /// The lines of the record being built, or of the last one returned
    /// (so that it can be taken back).
    lines: Vec<(usize, Vec<u8>)>,
    pub max_quoted_lines: usize,
    core: csv_core::Reader,
    /// The parser's output for the record being built: field bytes, the end
    /// of each field, and how much of each buffer is used.
    out: Vec<u8>,
    ends: Vec<usize>,
    used: (usize, usize),
    /// Buffers of lines and a record the caller is done with, used again:
    /// a national month has millions of rows, and a fresh line, record and
    /// field list each was a tenth of the load's time in the allocator.
    spare_lines: Vec<Vec<u8>>,
    spare_record: Option<ByteRecord>,
}

impl<R: BufRead> Records<R> {
    /// Records of `input`, whose first line is line `first_line` of the file.
    pub fn new(input: R, first_line: usize) -> Self {
        Records {
            input,
            next_line: first_line,
            replay: VecDeque::new(),
            lines: Vec::new(),
            max_quoted_lines: MAX_QUOTED_LINES,
            core: csv_core::Reader::new(),
            out: vec![0; 4096],
            ends: vec![0; 64],
            used: (0, 0),
            spare_lines: Vec::new(),
            spare_record: None,
        }
    }

    /// The number the next line read from the input will have.
    pub fn next_line_number(&self) -> usize {
        self.replay.front().map_or(self.next_line, |(n, _)| *n)
    }

    /// The next line (ending with LF, added at the end of the file if
    /// missing), replayed lines first.
    fn next_raw_line(&mut self) -> std::io::Result<Option<(usize, Vec<u8>)>> {
        if let Some(l) = self.replay.pop_front() {
            return Ok(Some(l));
        }
        let mut line = self.spare_lines.pop().unwrap_or_default();
        line.clear();
        if self.input.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        let n = self.next_line;
        self.next_line += 1;
        Ok(Some((n, line)))
    }

    /// Feeds one line to the parser: true when it completed the record.
    fn feed(&mut self, line: &[u8]) -> bool {
        let mut input = line;
        let (mut nout, mut nend) = self.used;
        loop {
            let (res, nin, o, e) =
                self.core
                    .read_record(input, &mut self.out[nout..], &mut self.ends[nend..]);
            input = &input[nin..];
            nout += o;
            nend += e;
            match res {
                csv_core::ReadRecordResult::InputEmpty => {
                    self.used = (nout, nend);
                    return false;
                }
                csv_core::ReadRecordResult::OutputFull => {
                    let len = self.out.len();
                    self.out.resize(len * 2, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let len = self.ends.len();
                    self.ends.resize(len * 2, 0);
                }
                csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => {
                    self.used = (nout, nend);
                    return true;
                }
            }
        }
    }

    /// Starts the parser afresh (after a record, or an abandoned one).
    fn restart(&mut self) {
        self.core.reset();
        self.used = (0, 0);
    }

    /// The next record, or None at the end of the input. Blank lines are
    /// skipped (they are not rows).
    pub fn next_record(&mut self) -> std::io::Result<Option<Record>> {
        // The last record's lines are no longer needed to take it back.
        self.spare_lines
            .extend(self.lines.drain(..).map(|(_, line)| line));
        loop {
            let Some((n, line)) = self.next_raw_line()? else {
                return Ok(None);
            };
            if line.iter().all(|b| *b == b'\n') {
                self.spare_lines.push(line);
                continue; // the parser would skip it silently; so do we, knowingly
            }
            self.restart();
            let done = self.feed(&line);
            self.lines.push((n, line));
            if done {
                return Ok(Some(self.fields()));
            }
            // A quoted field runs on past the line: read on, within limits.
            loop {
                if self.lines.len() > self.max_quoted_lines {
                    return Ok(Some(self.unbalanced(Unclosed::TooManyLines)));
                }
                let Some((m, more)) = self.next_raw_line()? else {
                    return Ok(Some(self.unbalanced(Unclosed::PastEnd)));
                };
                let done = self.feed(&more);
                self.lines.push((m, more));
                if done {
                    return Ok(Some(self.fields()));
                }
            }
        }
    }

    fn fields(&mut self) -> Record {
        let (nout, nend) = self.used;
        let mut fields = match self.spare_record.take() {
            Some(mut record) => {
                record.clear();
                record
            }
            None => ByteRecord::with_capacity(nout, nend),
        };
        let mut start = 0;
        for &end in &self.ends[..nend] {
            fields.push_field(&self.out[start..end]);
            start = end;
        }
        Record::Fields {
            line: self.lines[0].0,
            lines: self.lines.len(),
            fields,
        }
    }

    /// Hands back a record's buffers once its fields have been used, for the
    /// next record to be read into.
    pub fn recycle(&mut self, record: ByteRecord) {
        self.spare_record = Some(record);
    }

    /// Takes back the last record, which spanned several lines but turned out
    /// not to be a row (its field count is wrong: a stray quote closed by a
    /// quote further down). Returns its first line, set aside as an
    /// unbalanced quote; the lines after it are read again.
    /// `fields` is how many fields the record had.
    pub fn take_back(&mut self, fields: usize) -> Record {
        let at = self.lines.last().map_or(0, |(n, _)| *n);
        self.unbalanced(Unclosed::ClosedByAnotherRow { at, fields })
    }

    fn unbalanced(&mut self, why: Unclosed) -> Record {
        self.restart();
        let mut lines = std::mem::take(&mut self.lines).into_iter();
        let (line, mut text) = lines.next().expect("a record has a first line");
        for l in lines.rev() {
            self.replay.push_front(l);
        }
        text.pop(); // its newline
        Record::UnbalancedQuote { line, text, why }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &[u8]) -> Vec<Result<(usize, Vec<String>), usize>> {
        let mut lf = Vec::new();
        NewlinesAsLf::new(text).read_to_end(&mut lf).unwrap();
        let mut r = Records::new(&lf[..], 1);
        r.max_quoted_lines = 2;
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            out.push(match rec {
                Record::Fields { line, fields, .. } => Ok((
                    line,
                    fields
                        .iter()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect(),
                )),
                Record::UnbalancedQuote { line, .. } => Err(line),
            });
        }
        out
    }

    fn row(line: usize, fields: &[&str]) -> Result<(usize, Vec<String>), usize> {
        Ok((line, fields.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn every_line_ending_convention_reads_the_same() {
        for text in [
            &b"a,b\n1,2\n3,4\n"[..],
            b"a,b\r\n1,2\r\n3,4\r\n",
            b"a,b\r1,2\r3,4\r",
            b"a,b\r1,2\r\n3,4",
        ] {
            assert_eq!(
                records(text),
                vec![
                    row(1, &["a", "b"]),
                    row(2, &["1", "2"]),
                    row(3, &["3", "4"])
                ],
                "{text:?}"
            );
        }
    }

    #[test]
    fn quoted_line_breaks_within_the_limit_stay_in_their_field() {
        assert_eq!(
            records(b"a,\"x\ny\",b\n1,2\n"),
            vec![row(1, &["a", "x\ny", "b"]), row(3, &["1", "2"])]
        );
        // CR-only inside a quoted field reads as a line break too.
        assert_eq!(
            records(b"a,\"x\ry\"\r1,2\r"),
            vec![row(1, &["a", "x\ny"]), row(3, &["1", "2"])]
        );
    }

    #[test]
    fn an_unbalanced_quote_sets_aside_its_own_line_only() {
        assert_eq!(
            records(b"1,2\n3,\"4\n5,6\n7,8\n9,10\n"),
            vec![
                row(1, &["1", "2"]),
                Err(2),
                row(3, &["5", "6"]),
                row(4, &["7", "8"]),
                row(5, &["9", "10"])
            ]
        );
        // Past the end of the file.
        assert_eq!(
            records(b"1,2\n3,\"4\n5,6\n"),
            vec![row(1, &["1", "2"]), Err(2), row(3, &["5", "6"])]
        );
    }

    #[test]
    fn blank_lines_are_not_records() {
        assert_eq!(
            records(b"\n1,2\n\r\n\n3,4\n"),
            vec![row(2, &["1", "2"]), row(5, &["3", "4"])]
        );
    }

    #[test]
    fn a_record_taken_back_replays_its_later_lines() {
        let mut r = Records::new(&b"a,\"b\nc,\"d\ne,f\n"[..], 1);
        let Some(Record::Fields { lines: 2, .. }) = r.next_record().unwrap() else {
            panic!("expected a two-line record");
        };
        let Record::UnbalancedQuote { line: 1, text, why } = r.take_back(2) else {
            panic!()
        };
        assert_eq!(text, b"a,\"b");
        assert_eq!(why, Unclosed::ClosedByAnotherRow { at: 2, fields: 2 });
        // Line 2 opens a quote of its own that never closes; line 3 is a row.
        let Some(Record::UnbalancedQuote {
            line: 2,
            why: Unclosed::PastEnd,
            ..
        }) = r.next_record().unwrap()
        else {
            panic!()
        };
        let Some(Record::Fields { line: 3, .. }) = r.next_record().unwrap() else {
            panic!()
        };
        assert!(r.next_record().unwrap().is_none());
    }
}
