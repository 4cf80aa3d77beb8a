//! Reading one extract: the file's lines (see [`crate::lines`]), its header
//! (see [`crate::header`]), a refusal if it carries patient identifiers,
//! then every row checked (see [`crate::row`]), duplicates set aside (see
//! [`crate::dedup`]), and the rows that pass built into Arrow batches and
//! spooled until the file has been read to its end.

use crate::PracticeCodes;
use std::io::Read;

use arrow::record_batch::RecordBatch;
use csv::StringRecord;

use crate::columns::{BATCH_ROWS, RowBuilder, schema_for};
use crate::dedup::Duplicates;
use crate::field::FieldContext;
use crate::header::{Header, find_header};
use crate::identifiers::{PATIENT_SAMPLE_ROWS, refuse_patient_identifiers};
use crate::lines::{Lines, Row};
use crate::records::{MAX_QUOTED_LINES, Unclosed};
use crate::row::check_row;
use crate::shape::Shape;
use crate::spool::Spool;
use crate::{Check, IngestError, QuarantinedRow, Result};

/// The outcome of reading one file.
#[derive(Debug)]
pub struct FileRead {
    pub batch: RecordBatch,
    pub quarantined: Vec<QuarantinedRow>,
    pub rows_read: usize,
    pub encoding: &'static str,
    pub header_line: usize,
}

/// What reading one file found, besides its rows.
#[derive(Debug)]
pub struct FileStats {
    pub quarantined: Vec<QuarantinedRow>,
    pub rows_read: usize,
    pub encoding: &'static str,
    pub header_line: usize,
}

/// Parses one file of a source held in memory, returning its rows as one
/// batch (a convenience over [`read_stream`] for tests and small inputs).
pub fn read_file(
    source: &str,
    file_label: &str,
    bytes: &[u8],
    shape: &Shape,
    known_practices: Option<&PracticeCodes>,
) -> Result<FileRead> {
    let mut batches = Vec::new();
    let stats = read_stream(
        source,
        file_label,
        bytes,
        shape,
        known_practices,
        MAX_QUOTED_LINES,
        &mut |b| {
            batches.push(b);
            Ok(())
        },
    )?;
    let schema = schema_for(shape);
    let batch = arrow::compute::concat_batches(&schema, &batches).map_err(IngestError::arrow(
        format!("{file_label}: joining its batches"),
    ))?;
    Ok(FileRead {
        batch,
        quarantined: stats.quarantined,
        rows_read: stats.rows_read,
        encoding: stats.encoding,
        header_line: stats.header_line,
    })
}

/// Parses one file of a source as it streams in (already decompressed),
/// handing each batch of rows that passed every check to `emit` once the
/// whole file has been read: a file that cannot be read to its end loads
/// nothing. `known_practices` (if given) is the practice register: rows for
/// practices not in it are quarantined. Memory stays bounded whatever the
/// file's size: rows are spooled to disk beyond a memory budget (see
/// [`crate::spool`]), and a line longer than [`crate::MAX_LINE_BYTES`]
/// stops the read.
pub fn read_stream(
    source: &str,
    file_label: &str,
    input: impl Read,
    shape: &Shape,
    known_practices: Option<&PracticeCodes>,
    max_quoted_lines: usize,
    emit: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<FileStats> {
    let mut lines = Lines::open(file_label, input, max_quoted_lines)?;
    let header = find_header(&mut lines, shape, source, file_label)?;
    let context = FieldContext {
        known_practices,
        today: chrono::Local::now().date_naive(),
    };
    let mut rows = FileRows::new(source, file_label, shape, &header, max_quoted_lines);

    // The first rows are read ahead and checked for patient identifiers
    // before any row is used: such a file is refused whole.
    let mut ahead = Vec::new();
    while ahead.len() < PATIENT_SAMPLE_ROWS {
        match lines.next_row(header.fields.len())? {
            Some(r) => ahead.push(r),
            None => break,
        }
    }
    let sample: Vec<(usize, &StringRecord)> = ahead
        .iter()
        .filter_map(|(line, r)| match r {
            Row::Fields(r) => Some((*line, r)),
            Row::UnbalancedQuote { .. } => None,
        })
        .collect();
    refuse_patient_identifiers(
        file_label,
        &sample,
        header.line,
        &header.fields,
        known_practices.is_some(),
    )?;

    for (line, row) in ahead {
        rows.take(line, row, &context)?;
    }
    while let Some((line, row)) = lines.next_row(header.fields.len())? {
        if let Some(done) = rows.take(line, row, &context)? {
            lines.recycle(done);
        }
    }
    let (quarantined, rows_read) = rows.hand_on(emit)?;
    Ok(FileStats {
        quarantined,
        rows_read,
        encoding: lines.encoding(),
        header_line: header.line,
    })
}

/// One file's rows while it is read: those that passed, built and spooled,
/// and those set aside.
struct FileRows<'a> {
    source: &'a str,
    file: &'a str,
    shape: &'a Shape,
    header: &'a Header,
    max_quoted_lines: usize,
    built: RowBuilder,
    spool: Spool,
    duplicates: Duplicates<'a>,
    quarantined: Vec<QuarantinedRow>,
    rows_read: usize,
}

impl<'a> FileRows<'a> {
    fn new(
        source: &'a str,
        file: &'a str,
        shape: &'a Shape,
        header: &'a Header,
        max_quoted_lines: usize,
    ) -> Self {
        let schema = schema_for(shape);
        FileRows {
            source,
            file,
            shape,
            header,
            max_quoted_lines,
            built: RowBuilder::new(shape, schema.clone()),
            spool: Spool::new(schema).for_file(file),
            duplicates: Duplicates::new(shape),
            quarantined: Vec::new(),
            rows_read: 0,
        }
    }

    /// Checks one record read at `line`: builds it, or sets it aside.
    /// Returns the record, done with, for its buffers to be used again.
    fn take(
        &mut self,
        line: usize,
        row: Row,
        context: &FieldContext,
    ) -> Result<Option<StringRecord>> {
        let record = match row {
            Row::Fields(r) => r,
            Row::UnbalancedQuote { text, why } => {
                self.rows_read += 1;
                let reason = self.unbalanced_quote_reason(why);
                self.set_aside(line, Check::UnbalancedQuote, reason, &text);
                return Ok(None);
            }
        };
        if record.iter().all(|f| f.trim().is_empty()) {
            return Ok(Some(record)); // blank lines (often trailing) are not rows
        }
        self.rows_read += 1;
        let checked = check_row(
            self.shape,
            &self.header.positions,
            self.header.fields.len(),
            &record,
            context,
        )
        .and_then(|values| {
            self.duplicates
                .check(&values, self.built.built, line)
                .map(|()| values)
                .map_err(|reason| (Check::DuplicateKey, reason))
        });
        match checked {
            Ok(values) => {
                self.built.push(values, self.file, line);
                if self.built.pending() >= BATCH_ROWS {
                    self.spool.push(self.built.finish(self.file)?)?;
                }
            }
            Err((check, reason)) => {
                // The row's text is only built for a row that is set aside.
                let raw = record.iter().collect::<Vec<_>>().join(",");
                self.set_aside(line, check, reason, &raw);
            }
        }
        Ok(Some(record))
    }

    fn unbalanced_quote_reason(&self, why: Unclosed) -> String {
        match why {
            Unclosed::PastEnd => "a quoted field opens on this line and is not closed before the end of the file; the lines after it were read as rows".to_string(),
            Unclosed::TooManyLines => format!(
                "a quoted field opens on this line and is not closed within {} lines (max_quoted_lines); the lines after it were read as rows",
                self.max_quoted_lines
            ),
            // The quote that closed it was another row's: said so, rather
            // than that it never closed.
            Unclosed::ClosedByAnotherRow { at, fields } => format!(
                "a quoted field opens on this line and the next quote is on line {at}, which would make one row of {fields} fields where the header has {}: the quote is stray; the lines after this one were read as rows",
                self.header.fields.len()
            ),
        }
    }

    fn set_aside(&mut self, line: usize, check: Check, reason: String, raw: &str) {
        self.quarantined.push(QuarantinedRow::new(
            self.source,
            self.file,
            line,
            check,
            reason,
            raw,
        ));
    }

    /// Once the file has been read to its end: hands its rows on to `emit`,
    /// less any that a later row with the same key contradicted, and returns
    /// the rows set aside (in file order) and how many rows were read.
    fn hand_on(
        mut self,
        emit: &mut dyn FnMut(RecordBatch) -> Result<()>,
    ) -> Result<(Vec<QuarantinedRow>, usize)> {
        if self.built.pending() > 0 {
            self.spool.push(self.built.finish(self.file)?)?;
        }
        // The books must balance before a single row is handed on: every row
        // read is built (to be loaded, or set aside below as a conflicting
        // duplicate) or already set aside. A file that does not balance is
        // refused whole rather than loaded with rows unaccounted for.
        let accounted = self.built.built + self.quarantined.len();
        if self.rows_read != accounted {
            return Err(IngestError::Unbalanced {
                file: self.file.to_string(),
                read: self.rows_read,
                accounted,
            });
        }
        let mut conflicts = self.duplicates.into_conflicts();
        let mut quarantined = self.quarantined;
        let (source, file) = (self.source, self.file);
        self.spool.drain(&mut |batch| {
            let (batch, set_aside) = conflicts.take_from(batch, source, file)?;
            quarantined.extend(set_aside);
            emit(batch)
        })?;
        // In file order, as a person reading the quarantine expects.
        quarantined.sort_by_key(|q| q.line);
        Ok((quarantined, self.rows_read))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifiers::{is_nhs_number, is_postcode};
    use crate::lines::MAX_LINE_BYTES;
    use crate::period::{parse_date, period_in_range};
    use crate::shape::{DateFormat, builtin};
    use crate::spool::SPOOL_MEMORY_BYTES;
    use chrono::NaiveDate;

    fn search() -> Shape {
        builtin("clinical_search").unwrap()
    }

    #[test]
    fn header_after_preamble_in_windows_1252() {
        let text = "SystmOne Clinical Reporting\nPractice: Zoë Lane Practice\n\nPractice Code,Month Ending,Indicator,Description,Count,Population\nA81001,30/09/2026,SMR,\"Reviews, structured\",*,120\nA81001,31/08/2026,SMR,x,40,118\n";
        let bytes = encoding_rs::WINDOWS_1252.encode(text).0.into_owned();
        assert!(
            std::str::from_utf8(&bytes).is_err(),
            "test input must not be UTF-8"
        );
        let read = read_file("searches", "f.csv", &bytes, &search(), None).unwrap();
        assert_eq!(read.encoding, "Windows-1252");
        assert_eq!(read.header_line, 4);
        assert_eq!(read.batch.num_rows(), 2);
        assert!(read.quarantined.is_empty());
        let suppressed = read.batch.column_by_name("numerator_suppressed").unwrap();
        let suppressed = suppressed
            .as_any()
            .downcast_ref::<arrow::array::BooleanArray>()
            .unwrap();
        assert!(suppressed.value(0) && !suppressed.value(1));
        // Censored, never zero.
        assert!(read.batch.column_by_name("numerator").unwrap().is_null(0));
        let lines = read.batch.column_by_name("source_line").unwrap();
        let lines = lines
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        assert_eq!((lines.value(0), lines.value(1)), (5, 6));
    }

    #[test]
    fn bad_rows_are_quarantined_with_line_and_reason() {
        let text = "\u{FEFF}Organisation Code,Period End,Search Code,Search Name,Numerator,Denominator\nA81001,30/09/2026,SMR,x,10,100\nA8100,30/09/2026,SMR,x,10,100\nA81001,31/09/2026,SMR,x,10,100\nA81001,30/09/2026,SMR,x,-3,100\nA81001,30/09/2026,SMR,x,101,100\nA81001,30/09/2026,SMR\nB81001,30/09/2026,SMR,x,1,2\n";
        let known: PracticeCodes = ["A81001".to_string()].into_iter().collect();
        let read = read_file(
            "searches",
            "f.csv",
            text.as_bytes(),
            &search(),
            Some(&known),
        )
        .unwrap();
        assert_eq!(read.encoding, "UTF-8 with BOM");
        assert_eq!(read.batch.num_rows(), 1);
        let got: Vec<(usize, Check)> = read.quarantined.iter().map(|q| (q.line, q.check)).collect();
        assert_eq!(
            got,
            vec![
                (3, Check::PracticeCodeFormat),
                (4, Check::BadDate),
                (5, Check::NegativeCount),
                (6, Check::NumeratorAboveDenominator),
                (7, Check::FieldCount),
                (8, Check::UnknownPractice),
            ]
        );
        assert_eq!(read.rows_read, 7);
    }

    #[test]
    fn a_stray_quote_closed_by_another_rows_quote_is_said_to_be_so() {
        // Line 3's quote is closed by the quote line 4 opens: the record
        // the two make has the wrong field count, so line 3 is set aside
        // and line 4 read again as the row it is. The reason names the
        // line of the closing quote; it does not say the quote never closed.
        let text = "Organisation Code,Period End,Search Code,Search Name,Numerator,Denominator\nA81001,30/09/2026,SMR,x,10,100\nA81001,30/09/2026,SMU,\"stray,10,100\nA81001,30/09/2026,SMV,\"Reviews, structured\",10,100\n";
        let read = read_file("searches", "f.csv", text.as_bytes(), &search(), None).unwrap();
        assert_eq!(read.batch.num_rows(), 2);
        assert_eq!(read.rows_read, 3);
        let got: Vec<(usize, Check, &str)> = read
            .quarantined
            .iter()
            .map(|q| (q.line, q.check, q.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            [(
                3,
                Check::UnbalancedQuote,
                "a quoted field opens on this line and the next quote is on line 4, which would make one row of 7 fields where the header has 6: the quote is stray; the lines after this one were read as rows"
            )]
        );
    }

    #[test]
    fn duplicate_keys_count_a_repeated_row_once_and_set_aside_conflicts() {
        // Line 3 repeats line 2 exactly; lines 4 and 6 share a key but
        // disagree; lines 5 and 7 differ from those in a key column (the
        // month, the search), so they are rows of their own.
        let text = "Practice Code,Period End,Search Code,Search Name,Numerator,Denominator\n\
                    A81001,30/09/2026,SMR,x,10,100\n\
                    A81001,30/09/2026,SMR,x,10,100\n\
                    A81002,30/09/2026,SMR,x,10,100\n\
                    A81001,31/08/2026,SMR,x,10,100\n\
                    A81002,30/09/2026,SMR,x,12,100\n\
                    A81002,30/09/2026,DM,x,12,100\n";
        let read = read_file("searches", "f.csv", text.as_bytes(), &search(), None).unwrap();
        let got: Vec<(usize, Check)> = read.quarantined.iter().map(|q| (q.line, q.check)).collect();
        assert_eq!(
            got,
            vec![
                (3, Check::DuplicateKey),
                (4, Check::DuplicateKey),
                (6, Check::DuplicateKey),
            ]
        );
        assert!(
            read.quarantined[0].reason.starts_with(
                "duplicate of line 2 (practice_code A81001, period_end 2026-09-30, search_code SMR)"
            ),
            "{}",
            read.quarantined[0].reason
        );
        assert!(
            read.quarantined[1]
                .reason
                .contains("line 6 has the same key")
        );
        assert!(
            read.quarantined[1]
                .raw
                .starts_with("A81002,2026-09-30,SMR,x,10"),
            "{}",
            read.quarantined[1].raw
        );
        assert!(read.quarantined[2].reason.contains("same key as line 4"));
        let lines = read.batch.column_by_name("source_line").unwrap();
        let lines = lines
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        assert_eq!(lines.values().to_vec(), vec![2, 5, 7]);
        assert_eq!(read.rows_read, 6);
    }

    #[test]
    fn mixed_encodings_are_decoded_line_by_line() {
        // "Zoë" in UTF-8 on one line, "Café" in Windows-1252 on the next.
        let head = b"Practice Code,Period End,Search Code,Search Name,Numerator,Denominator\n";
        let zoe = b"A81001,30/09/2026,A,Zo\xC3\xAB Lane,1,2\n".as_slice();
        let cafe = b"A81001,30/09/2026,B,Caf\xE9 Quarter,1,2\n".as_slice();
        let names = |bytes: &[u8]| {
            let read = read_file("s", "f.csv", bytes, &search(), None).unwrap();
            let names = read.batch.column_by_name("search_name").unwrap().clone();
            let names = names
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap();
            let names: Vec<String> = names.iter().map(|n| n.unwrap().to_string()).collect();
            (names.join("|"), read.encoding)
        };
        let mixed = [head.as_slice(), zoe, cafe].concat();
        assert_eq!(
            names(&mixed),
            (
                "Zoë Lane|Café Quarter".into(),
                "mixed UTF-8 and Windows-1252"
            )
        );
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), &mixed].concat();
        assert_eq!(names(&with_bom).0, "Zoë Lane|Café Quarter");
        assert_eq!(names(&with_bom).1, "mixed UTF-8 and Windows-1252");
        assert_eq!(
            names(&[head.as_slice(), cafe].concat()),
            ("Café Quarter".into(), "Windows-1252")
        );
        assert_eq!(
            names(&[head.as_slice(), zoe].concat()),
            ("Zoë Lane".into(), "UTF-8")
        );
    }

    #[test]
    fn an_overlong_line_stops_the_file_and_names_its_line() {
        let mut bytes = b"Practice Code,Period End,Search Code,Search Name,Numerator,Denominator\nA81001,30/09/2026,A,x,1,2\nA81001,30/09/2026,B,".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        bytes.extend(b",1,2\nA81001,30/09/2026,C,x,1,2\n");
        let mut emitted = 0;
        let err = read_stream(
            "s",
            "f.csv",
            bytes.as_slice(),
            &search(),
            None,
            MAX_QUOTED_LINES,
            &mut |b| {
                emitted += b.num_rows();
                Ok(())
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, IngestError::LineTooLong { line: 3, .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("f.csv:3: a line longer than 1048576 bytes"),
            "{err}"
        );
        assert_eq!(
            emitted, 0,
            "a file that cannot be read to its end loads nothing"
        );
    }

    #[test]
    fn rows_are_emitted_in_batches_and_spilled_beyond_the_memory_budget() {
        // More rows than a batch: every row arrives, in order, in batches.
        let mut text = String::from(
            "Practice Code,Period End,Search Code,Search Name,Numerator,Denominator\n",
        );
        let n = BATCH_ROWS + 10;
        for i in 0..n {
            text.push_str(&format!("A81001,30/09/2026,S{i},x,1,2\n"));
        }
        let mut sizes = Vec::new();
        read_stream(
            "s",
            "f.csv",
            text.as_bytes(),
            &search(),
            None,
            MAX_QUOTED_LINES,
            &mut |b| {
                sizes.push(b.num_rows());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(sizes, vec![BATCH_ROWS, 10]);
        // The spool: batches past the budget go to disk and come back intact.
        let schema = schema_for(&search());
        let mut spool = Spool::new(schema.clone());
        let batch = read_file("s", "f.csv", text.as_bytes(), &search(), None)
            .unwrap()
            .batch;
        let copies = SPOOL_MEMORY_BYTES / batch.get_array_memory_size() + 2;
        for _ in 0..copies {
            spool.push(batch.clone()).unwrap();
        }
        assert!(spool.spill.is_some(), "the spool should have spilled");
        let mut back = 0;
        spool
            .drain(&mut |b| {
                assert_eq!(b, batch);
                back += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(back, copies);
    }

    #[test]
    fn nhs_numbers_are_recognised_by_their_check_digit() {
        // NHS Digital's published example, with and without its spaces.
        assert!(is_nhs_number("943 476 5919"));
        assert!(is_nhs_number("9434765919"));
        assert!(!is_nhs_number("9434765918"), "wrong check digit");
        assert!(!is_nhs_number("943476591"), "nine digits");
        assert!(!is_nhs_number("94347659190"), "eleven digits");
        // A remainder giving check digit 10 is never a valid number.
        assert!(!is_nhs_number("1000000010"));
        assert!(is_nhs_number("1000000060"), "check digit 11 is written 0");
        assert!(is_postcode("BS1 4DJ") && is_postcode("sw1a1aa") && !is_postcode("A81001"));
    }

    #[test]
    fn files_with_patient_identifiers_are_refused_whole() {
        let header = "Organisation Code,Period End,Search Code,Search Name,Numerator,Denominator";
        // A search export that went wrong: one row per patient, NHS number in column 4.
        let nhs = ["943 476 5919", "401 023 2137", "999 999 9999"]
            .iter()
            .filter(|n| is_nhs_number(n))
            .map(|n| format!("A81001,30/09/2026,SMR,{n},1,1\n"))
            .collect::<String>();
        assert!(nhs.lines().count() >= 2, "test numbers must be valid");
        let text = format!("{header}\n{nhs}A81001,30/09/2026,SMR,4505577104,1,1\n");
        let err = read_file("searches", "f.csv", text.as_bytes(), &search(), None).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                IngestError::PatientIdentifiers {
                    line: 2,
                    position: 4,
                    ..
                }
            ),
            "{msg}"
        );
        assert!(
            msg.contains("\"Search Name\"") && msg.contains("NHS numbers"),
            "{msg}"
        );
        assert!(
            !msg.contains("5919"),
            "the message must not repeat an identifier: {msg}"
        );

        let dob = format!("{header},DOB\nA81001,30/09/2026,SMR,x,1,1,01/02/1950\n");
        let err = read_file("searches", "f.csv", dob.as_bytes(), &search(), None).unwrap_err();
        assert!(err.to_string().contains("dates of birth"), "{err}");

        let postcodes = format!(
            "{header},Address\n{}",
            "A81001,30/09/2026,SMR,x,1,1,BS1 4DJ\n".repeat(3)
        );
        let known: PracticeCodes = ["A81001".to_string()].into_iter().collect();
        let err = read_file(
            "searches",
            "f.csv",
            postcodes.as_bytes(),
            &search(),
            Some(&known),
        )
        .unwrap_err();
        assert!(err.to_string().contains("postcodes"), "{err}");
        // The practice register may carry the practice's own postcode.
        assert!(read_file("searches", "f.csv", postcodes.as_bytes(), &search(), None).is_ok());
    }

    #[test]
    fn missing_header_names_what_is_missing() {
        let err = read_file("searches", "f.csv", b"a,b,c\n1,2,3\n", &search(), None).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("f.csv") && msg.contains("numerator"), "{msg}");
        assert!(matches!(
            read_file("s", "g.csv", b"", &search(), None),
            Err(IngestError::EmptyFile { .. })
        ));
        assert!(matches!(
            read_file("s", "g.csv", b"\x00\x01\x02PK", &search(), None),
            Err(IngestError::NotText { .. })
        ));
    }

    #[test]
    fn dates_in_each_format() {
        assert_eq!(
            parse_date("202609", DateFormat::YearMonth),
            NaiveDate::from_ymd_opt(2026, 9, 1)
        );
        assert_eq!(
            parse_date("01SEP2026", DateFormat::DayMonYear),
            NaiveDate::from_ymd_opt(2026, 9, 1)
        );
        assert_eq!(
            parse_date("01Sep2026", DateFormat::DayMonYear),
            NaiveDate::from_ymd_opt(2026, 9, 1)
        );
        assert_eq!(
            parse_date("30/09/2026", DateFormat::DayMonthYearSlashed),
            NaiveDate::from_ymd_opt(2026, 9, 30)
        );
        assert_eq!(
            parse_date("2026-09-30", DateFormat::Iso),
            NaiveDate::from_ymd_opt(2026, 9, 30)
        );
        assert_eq!(parse_date("202613", DateFormat::YearMonth), None);
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        for q in ["2026Q3", "2026-Q3", "2026 q3", "Q3 2026"] {
            assert_eq!(parse_date(q, DateFormat::Quarter), day(2026, 7, 1), "{q}");
        }
        assert_eq!(parse_date("2026Q1", DateFormat::Quarter), day(2026, 1, 1));
        assert_eq!(parse_date("2026Q5", DateFormat::Quarter), None);
        assert_eq!(parse_date("26Q1", DateFormat::Quarter), None);
        for fy in ["2025-26", "2025/26", "2025-2026", "2025 / 26"] {
            assert_eq!(
                parse_date(fy, DateFormat::FinancialYear),
                day(2025, 4, 1),
                "{fy}"
            );
        }
        assert_eq!(
            parse_date("1999-00", DateFormat::FinancialYear),
            day(1999, 4, 1)
        );
        assert_eq!(parse_date("2025-27", DateFormat::FinancialYear), None);
        assert_eq!(parse_date("2025", DateFormat::FinancialYear), None);
    }

    #[test]
    fn a_period_must_have_begun_and_be_plausible() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert!(
            period_in_range(day(2026, 11, 1), today).is_ok(),
            "this month"
        );
        assert!(
            period_in_range(day(2026, 11, 30), today).is_ok(),
            "this month's end"
        );
        assert!(period_in_range(day(1990, 1, 1), today).is_ok());
        let future = period_in_range(day(2026, 12, 1), today).unwrap_err();
        assert!(future.contains("in the future"), "{future}");
        let typo = period_in_range(day(1926, 9, 1), today).unwrap_err();
        assert!(typo.contains("before 1990-01-01"), "{typo}");
        // And in a file: a month typed as 2062 is set aside with its line.
        let text = "Practice Code,Period End,Search Code,Search Name,Numerator,Denominator\n\
                    A81001,30/09/2026,A,x,1,2\n\
                    A81001,30/09/2062,B,x,1,2\n";
        let read = read_file("s", "f.csv", text.as_bytes(), &search(), None).unwrap();
        assert_eq!(read.batch.num_rows(), 1);
        assert_eq!(read.quarantined.len(), 1);
        assert_eq!(
            (read.quarantined[0].line, read.quarantined[0].check),
            (3, Check::PeriodOutOfRange)
        );
    }
}
