//! Reading one extract: decode, find the header after any title preamble,
//! parse and check every row, and build Arrow columns of the rows that pass.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::{Datelike, NaiveDate};
use csv::StringRecord;

use crate::records::{MAX_QUOTED_LINES, NewlinesAsLf, Record, Records};
use crate::shape::{ColumnKind, DateFormat, Shape, header_key};
use crate::{Check, IngestError, QuarantinedRow, Result};

/// How many lines may precede the header (clinical-system title blocks).
const MAX_PREAMBLE_LINES: usize = 30;

/// Markers clinical systems and publications use for suppressed small numbers.
const SUPPRESSION_MARKERS: &[&str] = &["*", "<5", "c", "..", "<3", "<10"];

/// The schema a shape loads into: its columns, a `<name>_suppressed` flag for
/// each suppressible column, and where each row came from.
pub fn schema_for(shape: &Shape) -> SchemaRef {
    let mut fields = Vec::new();
    for c in &shape.columns {
        let (dt, suppressible) = match &c.kind {
            ColumnKind::PracticeCode | ColumnKind::Text => (DataType::Utf8, false),
            ColumnKind::Count { suppressible } => (DataType::Int64, *suppressible),
            ColumnKind::Decimal { suppressible } => (DataType::Float64, *suppressible),
            ColumnKind::Date { .. } => (DataType::Date32, false),
        };
        fields.push(Field::new(&c.name, dt, true));
        if suppressible {
            fields.push(Field::new(
                format!("{}_suppressed", c.name),
                DataType::Boolean,
                false,
            ));
        }
    }
    fields.push(Field::new("source_file", DataType::Utf8, false));
    fields.push(Field::new("source_line", DataType::Int64, false));
    Arc::new(Schema::new(fields))
}

enum Builder {
    Text(StringBuilder),
    Int(Int64Builder, Option<BooleanBuilder>),
    Float(Float64Builder, Option<BooleanBuilder>),
    Date(Date32Builder),
}

enum Value {
    Text(String),
    Int(Option<i64>, bool),
    Float(Option<f64>, bool),
    Date(Option<i32>),
}

impl Value {
    /// As a person reads it in a message: dates as ISO, suppressed as `*`.
    fn display(&self) -> String {
        match self {
            Value::Text(s) => s.clone(),
            Value::Int(Some(v), _) => v.to_string(),
            Value::Float(Some(v), _) => v.to_string(),
            Value::Int(None, true) | Value::Float(None, true) => "*".into(),
            Value::Int(None, false) | Value::Float(None, false) | Value::Date(None) => "".into(),
            Value::Date(Some(d)) => (NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")
                + chrono::Duration::days(i64::from(*d)))
            .to_string(),
        }
    }

    fn hash_into(&self, h: &mut impl Hasher) {
        match self {
            Value::Text(s) => (0u8, s).hash(h),
            Value::Int(v, sup) => (1u8, v, sup).hash(h),
            Value::Float(v, sup) => (2u8, v.map(f64::to_bits), sup).hash(h),
            Value::Date(v) => (3u8, v).hash(h),
        }
    }
}

/// The first row seen with a key, to tell a repeated row from a conflicting one.
struct FirstWithKey {
    /// Its index among the rows built so far.
    row: usize,
    line: usize,
    values_hash: u64,
    /// Already set aside because a later row with its key disagreed.
    conflicted: bool,
}

/// A row's key as 128 bits: a national file has millions of rows, and
/// holding each key's text would double the memory a file takes to read.
/// Two independent 64-bit hashes collide with odds near 2^-128.
fn key_hash(values: &[Value], key_columns: &[usize]) -> u128 {
    let half = |seed: u8| {
        let mut h = DefaultHasher::new();
        seed.hash(&mut h);
        for &i in key_columns {
            values[i].hash_into(&mut h);
        }
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// A built row as comma-separated text, for the quarantine's `raw` column.
fn row_text(batch: &RecordBatch, columns: usize, row: usize) -> String {
    let options = arrow::util::display::FormatOptions::default();
    (0..columns)
        .map(|c| {
            arrow::util::display::ArrayFormatter::try_new(batch.column(c).as_ref(), &options)
                .map(|f| f.value(row).to_string())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A record as the row checks see it.
enum Row {
    Fields(StringRecord),
    UnbalancedQuote { text: String, past_end: bool },
}

/// The outcome of reading one file.
#[derive(Debug)]
pub struct FileRead {
    pub batch: RecordBatch,
    pub quarantined: Vec<QuarantinedRow>,
    pub rows_read: usize,
    pub encoding: &'static str,
    pub header_line: usize,
}

fn parse_date(s: &str, format: DateFormat) -> Option<NaiveDate> {
    let s = s.trim();
    match format {
        DateFormat::YearMonth => {
            if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            NaiveDate::from_ymd_opt(s[..4].parse().ok()?, s[4..].parse().ok()?, 1)
        }
        DateFormat::DayMonYear => NaiveDate::parse_from_str(&s.to_ascii_uppercase(), "%d%b%Y").ok(),
        DateFormat::DayMonthYearSlashed => NaiveDate::parse_from_str(s, "%d/%m/%Y").ok(),
        DateFormat::Iso => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
        DateFormat::Quarter => {
            let compact: String = s
                .chars()
                .filter(|c| !matches!(c, ' ' | '-'))
                .collect::<String>()
                .to_ascii_uppercase();
            // "2026Q3" or, written the other way round, "Q32026".
            let (year, quarter) = match compact.split_once('Q')? {
                ("", rest) if rest.len() == 5 => (&rest[1..], &rest[..1]),
                (year, quarter) => (year, quarter),
            };
            let (year, quarter): (i32, u32) = (year.parse().ok()?, quarter.parse().ok()?);
            if year < 1000 || !(1..=4).contains(&quarter) {
                return None;
            }
            NaiveDate::from_ymd_opt(year, 3 * quarter - 2, 1)
        }
        DateFormat::FinancialYear => {
            let (first, second) = s.split_once(['-', '/'])?;
            let first: i32 = first.trim().parse().ok()?;
            let second = second.trim();
            let follows = match second.len() {
                2 => second.parse::<i32>().ok()? == (first + 1) % 100,
                4 => second.parse::<i32>().ok()? == first + 1,
                _ => false,
            };
            if first < 1000 || !follows {
                return None;
            }
            NaiveDate::from_ymd_opt(first, 4, 1)
        }
    }
}

/// The earliest period an extract can be about: before this, a date is a
/// typing or parsing error (GP clinical systems post-date it).
const EARLIEST_PERIOD: (i32, u32, u32) = (1990, 1, 1);

/// Whether a row's period is one an extract can report: not before
/// [`EARLIEST_PERIOD`] and not after the end of the current month.
fn period_in_range(d: NaiveDate, today: NaiveDate) -> Result<(), String> {
    let (y, m, day) = EARLIEST_PERIOD;
    let earliest = NaiveDate::from_ymd_opt(y, m, day).expect("valid date");
    let next_month = if today.month() == 12 {
        NaiveDate::from_ymd_opt(today.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(today.year(), today.month() + 1, 1)
    }
    .expect("valid date");
    if d < earliest {
        Err(format!(
            "{d} is before {earliest}: a typing or export error"
        ))
    } else if d >= next_month {
        Err(format!(
            "{d} is in the future (today is {today}): an extract cannot report a period that has not begun"
        ))
    } else {
        Ok(())
    }
}

/// A period written as text: a financial year, a quarter, a month or a
/// date in any of the built-in formats, or a calendar year.
fn period_from_text(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::from_ymd_opt(s.parse().ok()?, 1, 1);
    }
    [
        DateFormat::FinancialYear,
        DateFormat::Quarter,
        DateFormat::YearMonth,
        DateFormat::Iso,
        DateFormat::DayMonYear,
        DateFormat::DayMonthYearSlashed,
    ]
    .into_iter()
    .find_map(|f| parse_date(s, f))
}

/// The period checks for a period column that is not stored as a date.
fn check_period_value(value: &Value, today: NaiveDate) -> Result<(), (Check, String)> {
    let (period, shown) = match value {
        Value::Text(s) => (period_from_text(s), s.clone()),
        Value::Int(Some(year), _) => (
            i32::try_from(*year)
                .ok()
                .filter(|y| (1000..=9999).contains(y))
                .and_then(|y| NaiveDate::from_ymd_opt(y, 1, 1)),
            year.to_string(),
        ),
        // Empty or suppressed: the column's own checks have spoken.
        _ => return Ok(()),
    };
    match period {
        None => Err((
            Check::BadDate,
            format!(
                "{shown:?} is not a period (expected a financial year such as 2025-26, a year such as 2026, a quarter such as 2026Q3 or a month such as 202609)"
            ),
        )),
        Some(d) => period_in_range(d, today)
            .map_err(|why| (Check::PeriodOutOfRange, format!("{shown}: {why}"))),
    }
}

fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid epoch")).num_days() as i32
}

/// Whether a value is an NHS number: ten digits (spaces allowed as NHS
/// Digital prints them, 3-3-4) whose tenth is the modulus-11 check digit of
/// the first nine.
pub fn is_nhs_number(s: &str) -> bool {
    let digits: Vec<u32> = s
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| c.to_digit(10))
        .collect::<Option<Vec<u32>>>()
        .unwrap_or_default();
    if digits.len() != 10 {
        return false;
    }
    let sum: u32 = digits[..9]
        .iter()
        .enumerate()
        .map(|(i, d)| d * (10 - i as u32))
        .sum();
    match 11 - sum % 11 {
        11 => digits[9] == 0,
        10 => false,
        check => digits[9] == check,
    }
}

/// Whether a value looks like a full UK postcode (outward and inward code).
fn is_postcode(s: &str) -> bool {
    let t: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let b = t.as_bytes();
    if !(5..=7).contains(&b.len()) {
        return false;
    }
    let (outward, inward) = b.split_at(b.len() - 3);
    inward[0].is_ascii_digit()
        && inward[1..].iter().all(u8::is_ascii_alphabetic)
        && outward[0].is_ascii_alphabetic()
        && outward.iter().all(u8::is_ascii_alphanumeric)
        && outward.iter().any(u8::is_ascii_digit)
}

/// Refuses a file that carries patient-level identifiers: a column of NHS
/// numbers, a date-of-birth column, or (outside the practice register, which
/// may hold the practice's own address) a column of postcodes. Extracts are
/// counts per practice; a file like this is a disclosure, not bad data, so it
/// is not loaded at all — and the message names the column and line, never a
/// value.
/// How many rows are read ahead and checked for patient identifiers.
const PATIENT_SAMPLE_ROWS: usize = 200;

fn refuse_patient_identifiers(
    file: &str,
    sample: &[(usize, &StringRecord)],
    header_line: usize,
    header: &[String],
    check_postcodes: bool,
) -> Result<()> {
    let refuse = |position: usize, line: usize, what: &'static str| {
        Err(IngestError::PatientIdentifiers {
            file: file.to_string(),
            line,
            column: header[position].clone(),
            position: position + 1,
            what,
        })
    };
    for (i, h) in header.iter().enumerate() {
        let k = header_key(h);
        if k == "dob" || k.contains("dateofbirth") || k.contains("birthdate") || k == "birth" {
            return refuse(i, header_line, "dates of birth");
        }
    }
    // Per column: (values seen, NHS numbers, postcodes, first line of a hit).
    let mut seen = vec![(0usize, 0usize, 0usize, 0usize); header.len()];
    for &(line, record) in sample {
        for (i, v) in record.iter().enumerate().take(header.len()) {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            let c = &mut seen[i];
            c.0 += 1;
            let nhs = is_nhs_number(v);
            let postcode = check_postcodes && is_postcode(v);
            c.1 += usize::from(nhs);
            c.2 += usize::from(postcode);
            if (nhs || postcode) && c.3 == 0 {
                c.3 = line;
            }
        }
    }
    // Most values, and at least three: one valid-looking number by chance
    // (about one random 10-digit number in eleven passes) is not a column.
    for (i, (n, nhs, postcodes, line)) in seen.into_iter().enumerate() {
        if nhs >= 3 && nhs * 5 >= n * 4 {
            return refuse(
                i,
                line,
                "NHS numbers (10 digits passing the modulus-11 check)",
            );
        }
        if postcodes >= 3 && postcodes * 5 >= n * 4 {
            return refuse(i, line, "postcodes");
        }
    }
    Ok(())
}

pub fn is_practice_code(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 6 && b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_digit)
}

/// Rows per Arrow batch while reading a file.
pub const BATCH_ROWS: usize = 65_536;

/// The longest line peerbench reads. Real extract lines are a few hundred
/// bytes; a line of megabytes is a broken export (a missing newline
/// convention, binary appended), and holding it whole would let one file
/// exhaust memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Arrow memory a file's rows may take before they are spilled to a
/// temporary file: the rows of a file are only loaded once the whole file has
/// been read and checked, so a file fails whole or loads whole, and a file of
/// many gigabytes must not be held in memory meanwhile.
const SPOOL_MEMORY_BYTES: usize = 256 << 20;

/// A reader that refuses lines longer than [`MAX_LINE_BYTES`], remembering
/// at which line it stopped.
struct LineLimited<R> {
    inner: R,
    run: usize,
    newlines: usize,
    limit: usize,
    overlong_at: std::rc::Rc<std::cell::Cell<Option<usize>>>,
}

impl<R: Read> Read for LineLimited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        // Only the stretches between newlines matter: the first continues
        // the previous chunk's last line, the last carries on into the next.
        let mut start = 0;
        for (i, _) in chunk.iter().enumerate().filter(|(_, b)| **b == b'\n') {
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

/// A file's checked rows, held until the whole file has been read: in memory
/// up to [`SPOOL_MEMORY_BYTES`], then in an Arrow IPC temporary file.
struct Spool {
    schema: SchemaRef,
    memory: Vec<RecordBatch>,
    bytes: usize,
    spill: Option<arrow::ipc::writer::StreamWriter<std::io::BufWriter<std::fs::File>>>,
    spill_file: Option<tempfile::NamedTempFile>,
}

impl Spool {
    fn new(schema: SchemaRef) -> Spool {
        Spool {
            schema,
            memory: Vec::new(),
            bytes: 0,
            spill: None,
            spill_file: None,
        }
    }

    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        let internal =
            |e: &dyn std::fmt::Display| IngestError::Internal(format!("spooling rows: {e}"));
        if let Some(w) = &mut self.spill {
            return w.write(&batch).map_err(|e| internal(&e));
        }
        self.bytes += batch.get_array_memory_size();
        self.memory.push(batch);
        if self.bytes > SPOOL_MEMORY_BYTES {
            let file = tempfile::NamedTempFile::new().map_err(|e| internal(&e))?;
            let out = std::io::BufWriter::new(file.reopen().map_err(|e| internal(&e))?);
            let mut w = arrow::ipc::writer::StreamWriter::try_new(out, &self.schema)
                .map_err(|e| internal(&e))?;
            for b in self.memory.drain(..) {
                w.write(&b).map_err(|e| internal(&e))?;
            }
            self.bytes = 0;
            self.spill = Some(w);
            self.spill_file = Some(file);
        }
        Ok(())
    }

    /// Hands every batch, in order, to `f`.
    fn drain(mut self, f: &mut dyn FnMut(RecordBatch) -> Result<()>) -> Result<()> {
        let internal =
            |e: &dyn std::fmt::Display| IngestError::Internal(format!("reading spooled rows: {e}"));
        if let (Some(mut w), Some(file)) = (self.spill.take(), self.spill_file.take()) {
            w.finish().map_err(|e| internal(&e))?;
            drop(w);
            let reader = arrow::ipc::reader::StreamReader::try_new(
                std::io::BufReader::new(file.reopen().map_err(|e| internal(&e))?),
                None,
            )
            .map_err(|e| internal(&e))?;
            for b in reader {
                f(b.map_err(|e| internal(&e))?)?;
            }
            return Ok(());
        }
        for b in self.memory {
            f(b)?;
        }
        Ok(())
    }
}

/// Parses one file of a source held in memory, returning its rows as one
/// batch (a convenience over [`read_stream`] for tests and small inputs).
pub fn read_file(
    source: &str,
    file_label: &str,
    bytes: &[u8],
    shape: &Shape,
    known_practices: Option<&HashSet<String>>,
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
    let batch = arrow::compute::concat_batches(&schema, &batches)
        .map_err(|e| IngestError::Internal(e.to_string()))?;
    Ok(FileRead {
        batch,
        quarantined: stats.quarantined,
        rows_read: stats.rows_read,
        encoding: stats.encoding,
        header_line: stats.header_line,
    })
}

/// What reading one file found, besides its rows.
#[derive(Debug)]
pub struct FileStats {
    pub quarantined: Vec<QuarantinedRow>,
    pub rows_read: usize,
    pub encoding: &'static str,
    pub header_line: usize,
}

/// Tracks which encodings a file's lines were in.
#[derive(Default)]
struct Encodings {
    bom: bool,
    utf8_beyond_ascii: bool,
    windows_1252: bool,
}

impl Encodings {
    /// Decodes one line or field: UTF-8 when it is valid UTF-8, otherwise
    /// Windows-1252 (which decodes any byte), so a file mixing the two keeps
    /// both intact rather than garbling one kind.
    fn decode<'a>(&mut self, bytes: &'a [u8]) -> std::borrow::Cow<'a, str> {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                self.utf8_beyond_ascii |= !s.is_ascii();
                std::borrow::Cow::Borrowed(s)
            }
            Err(_) => {
                self.windows_1252 = true;
                encoding_rs::WINDOWS_1252
                    .decode_without_bom_handling(bytes)
                    .0
            }
        }
    }

    fn label(&self) -> &'static str {
        match (self.windows_1252, self.utf8_beyond_ascii || self.bom) {
            (true, true) => "mixed UTF-8 and Windows-1252",
            (true, false) => "Windows-1252",
            (false, _) if self.bom => "UTF-8 with BOM",
            (false, _) => "UTF-8",
        }
    }
}

/// Parses one file of a source as it streams in (already decompressed),
/// handing each batch of rows that passed every check to `emit` once the
/// whole file has been read: a file that cannot be read to its end loads
/// nothing. `known_practices` (if given) is the practice register: rows for
/// practices not in it are quarantined. Memory stays bounded whatever the
/// file's size: rows are spooled to disk beyond [`SPOOL_MEMORY_BYTES`], and
/// a line longer than [`MAX_LINE_BYTES`] stops the read.
pub fn read_stream(
    source: &str,
    file_label: &str,
    input: impl Read,
    shape: &Shape,
    known_practices: Option<&HashSet<String>>,
    max_quoted_lines: usize,
    emit: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<FileStats> {
    let overlong_at = std::rc::Rc::new(std::cell::Cell::new(None));
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
    let read_error = |e: std::io::Error, line: usize| match overlong_at.get() {
        Some(at) => IngestError::LineTooLong {
            file: file_label.to_string(),
            line: at,
            limit: MAX_LINE_BYTES,
        },
        None => IngestError::Stream {
            file: file_label.to_string(),
            line,
            reason: e.to_string(),
        },
    };

    // What the file starts with says whether it is text at all.
    let start = input.fill_buf().map_err(|e| read_error(e, 1))?;
    if start.is_empty() {
        return Err(IngestError::EmptyFile {
            file: file_label.to_string(),
        });
    }
    // An Excel workbook (xlsx is a zip; xls an OLE file) in a CSV source: say
    // so, rather than "not a text file".
    if start.starts_with(b"PK\x03\x04") || start.starts_with(b"\xD0\xCF\x11\xE0") {
        return Err(IngestError::Spreadsheet {
            file: file_label.to_string(),
        });
    }
    if start.iter().take(8192).any(|b| *b == 0) {
        return Err(IngestError::NotText {
            file: file_label.to_string(),
        });
    }
    let mut encodings = Encodings::default();
    if start.starts_with(b"\xEF\xBB\xBF") {
        encodings.bom = true;
        input.consume(3);
    }
    let mut records = Records::new(input, 1);
    records.max_quoted_lines = max_quoted_lines;

    // Find the header: the first line whose fields name every required column.
    let mut header: Option<(usize, Vec<String>)> = None; // (line no, fields)
    let mut best_missing: Vec<String> = Vec::new();
    while records.next_line_number() <= MAX_PREAMBLE_LINES {
        let at = records.next_line_number();
        match records.next_record().map_err(|e| read_error(e, at))? {
            None => break,
            // A title line with a stray quote is not the header.
            Some(Record::UnbalancedQuote { .. }) => continue,
            Some(Record::Fields { line, fields, .. }) => {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|f| encodings.decode(f).trim().to_string())
                    .collect();
                let keys: HashSet<String> = fields.iter().map(|f| header_key(f)).collect();
                let missing: Vec<String> = shape
                    .columns
                    .iter()
                    .filter(|c| c.required)
                    .filter(|c| {
                        !std::iter::once(c.name.as_str())
                            .chain(c.aliases.iter().map(String::as_str))
                            .any(|a| keys.contains(&header_key(a)))
                    })
                    .map(|c| c.name.clone())
                    .collect();
                if missing.is_empty() {
                    header = Some((line, fields));
                    break;
                }
                if best_missing.is_empty() || missing.len() < best_missing.len() {
                    best_missing = missing;
                }
            }
        }
    }
    let Some((header_line, header_fields)) = header else {
        return Err(IngestError::NoHeader {
            file: file_label.to_string(),
            source_name: source.to_string(),
            missing: best_missing,
            expected: shape
                .columns
                .iter()
                .filter(|c| c.required)
                .map(|c| c.aliases.first().cloned().unwrap_or_else(|| c.name.clone()))
                .collect(),
        });
    };

    // Map each shape column to its position in the file.
    let positions: Vec<Option<usize>> = shape
        .columns
        .iter()
        .map(|c| {
            let names: Vec<String> = std::iter::once(c.name.as_str())
                .chain(c.aliases.iter().map(String::as_str))
                .map(header_key)
                .collect();
            header_fields
                .iter()
                .position(|h| names.contains(&header_key(h)))
        })
        .collect();

    let schema = schema_for(shape);
    let mut rows = RowBuilder::new(shape, schema.clone());
    let mut spool = Spool::new(schema);
    let mut quarantined = Vec::new();
    let mut rows_read = 0usize;
    let index_of: HashMap<&str, usize> = shape
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let key_columns = shape.key_columns();
    let today = chrono::Local::now().date_naive();
    let mut first_with_key: HashMap<u128, FirstWithKey> = HashMap::new();
    // Rows already built that a later, conflicting row with their key sets
    // aside: (row, line, reason).
    let mut conflicted_rows: Vec<(usize, usize, String)> = Vec::new();

    // The first rows are read ahead and checked for patient identifiers
    // before any row is used: such a file is refused whole.
    let mut ahead: std::collections::VecDeque<(usize, Row)> = std::collections::VecDeque::new();
    let fields_expected = header_fields.len();
    let next =
        |records: &mut Records<_>, encodings: &mut Encodings| -> Result<Option<(usize, Row)>> {
            let at = records.next_line_number();
            let record = records.next_record().map_err(|e| read_error(e, at))?;
            let record = match record {
                None => return Ok(None),
                // A record spanning lines whose field count is wrong was closed by
                // a quote further down, not its own: its first line is the
                // unbalanced quote, and the lines after it are rows.
                Some(Record::Fields {
                    lines, ref fields, ..
                }) if lines > 1 && fields.len() != fields_expected => records.take_back(),
                Some(r) => r,
            };
            Ok(Some(match record {
                Record::Fields { line, fields, .. } => {
                    let record = match StringRecord::from_byte_record(fields) {
                        Ok(r) => {
                            encodings.utf8_beyond_ascii |= !r.as_slice().is_ascii();
                            r
                        }
                        Err(e) => e
                            .into_byte_record()
                            .iter()
                            .map(|f| encodings.decode(f).into_owned())
                            .collect(),
                    };
                    (line, Row::Fields(record))
                }
                Record::UnbalancedQuote {
                    line,
                    text,
                    past_end,
                } => (
                    line,
                    Row::UnbalancedQuote {
                        text: encodings.decode(&text).into_owned(),
                        past_end,
                    },
                ),
            }))
        };
    while ahead.len() < PATIENT_SAMPLE_ROWS {
        match next(&mut records, &mut encodings)? {
            Some(r) => ahead.push_back(r),
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
        header_line,
        &header_fields,
        known_practices.is_some(),
    )?;

    loop {
        let (line_no, record) = match ahead.pop_front() {
            Some(r) => r,
            None => match next(&mut records, &mut encodings)? {
                Some(r) => r,
                None => break,
            },
        };
        let record = match record {
            Row::Fields(r) => r,
            Row::UnbalancedQuote { text, past_end } => {
                rows_read += 1;
                quarantined.push(QuarantinedRow::new(
                    source,
                    file_label,
                    line_no,
                    Check::UnbalancedQuote,
                    if past_end {
                        "a quoted field opens on this line and is not closed before the end of the file; the lines after it were read as rows".to_string()
                    } else {
                        format!(
                            "a quoted field opens on this line and is not closed within {max_quoted_lines} lines (max_quoted_lines); the lines after it were read as rows"
                        )
                    },
                    &text,
                ));
                continue;
            }
        };
        if record.iter().all(|f| f.trim().is_empty()) {
            continue; // blank lines (often trailing) are not rows
        }
        rows_read += 1;
        // The row's text is only built for a row that is set aside.
        let reject = |check: Check, reason: String| {
            let raw = record.iter().collect::<Vec<_>>().join(",");
            QuarantinedRow::new(source, file_label, line_no, check, reason, &raw)
        };
        if record.len() != header_fields.len() {
            quarantined.push(reject(
                Check::FieldCount,
                format!(
                    "{} fields where the header has {}",
                    record.len(),
                    header_fields.len()
                ),
            ));
            continue;
        }
        let mut values: Vec<Value> = Vec::with_capacity(shape.columns.len());
        let mut failure: Option<QuarantinedRow> = None;
        for (c, pos) in shape.columns.iter().zip(&positions) {
            let field = pos.and_then(|p| record.get(p)).map(str::trim).unwrap_or("");
            let value = match &c.kind {
                ColumnKind::PracticeCode => {
                    if !is_practice_code(field) {
                        let reason = if is_practice_code(&field.to_ascii_uppercase()) {
                            format!(
                                "column {}: practice codes are upper case: {field} (expected {})",
                                c.name,
                                field.to_ascii_uppercase()
                            )
                        } else {
                            format!(
                                "column {}: {field:?} is not a practice code (expected a letter and five digits, e.g. A81001)",
                                c.name
                            )
                        };
                        failure = Some(reject(Check::PracticeCodeFormat, reason));
                        break;
                    }
                    if let Some(known) = known_practices
                        && !known.contains(field)
                    {
                        failure = Some(reject(
                            Check::UnknownPractice,
                            format!(
                                "column {}: practice {field} is not in the practice register",
                                c.name
                            ),
                        ));
                        break;
                    }
                    Value::Text(field.to_string())
                }
                ColumnKind::Text => {
                    if field.is_empty() && c.required {
                        failure = Some(reject(
                            Check::RequiredMissing,
                            format!("column {} is empty", c.name),
                        ));
                        break;
                    }
                    Value::Text(field.to_string())
                }
                ColumnKind::Count { suppressible } => {
                    if *suppressible && SUPPRESSION_MARKERS.contains(&field) {
                        Value::Int(None, true)
                    } else if field.is_empty() && !c.required {
                        Value::Int(None, false)
                    } else {
                        match field.parse::<i64>() {
                            Ok(v) if v >= 0 => Value::Int(Some(v), false),
                            Ok(v) => {
                                failure = Some(reject(
                                    Check::NegativeCount,
                                    format!("column {}: count {v} is negative", c.name),
                                ));
                                break;
                            }
                            Err(e) => {
                                let reason = match e.kind() {
                                    std::num::IntErrorKind::PosOverflow
                                    | std::num::IntErrorKind::NegOverflow => format!(
                                        "column {}: {field} is too large for a count (at most {})",
                                        c.name,
                                        i64::MAX
                                    ),
                                    _ => format!(
                                        "column {}: {field:?} is not a whole number{}",
                                        c.name,
                                        if *suppressible {
                                            " or a suppression marker (*, <5)"
                                        } else {
                                            ""
                                        }
                                    ),
                                };
                                failure = Some(reject(Check::NotACount, reason));
                                break;
                            }
                        }
                    }
                }
                ColumnKind::Decimal { suppressible } => {
                    if *suppressible && SUPPRESSION_MARKERS.contains(&field) {
                        Value::Float(None, true)
                    } else if field.is_empty() && !c.required {
                        Value::Float(None, false)
                    } else {
                        match field.parse::<f64>() {
                            Ok(v) if v.is_finite() => Value::Float(Some(v), false),
                            _ => {
                                failure = Some(reject(
                                    Check::NotANumber,
                                    format!("column {}: {field:?} is not a number", c.name),
                                ));
                                break;
                            }
                        }
                    }
                }
                ColumnKind::Date { format } => {
                    if field.is_empty() && !c.required {
                        Value::Date(None)
                    } else {
                        match parse_date(field, *format) {
                            Some(d)
                                if c.period
                                    && let Err(why) = period_in_range(d, today) =>
                            {
                                failure = Some(reject(
                                    Check::PeriodOutOfRange,
                                    format!("column {}: {why}", c.name),
                                ));
                                break;
                            }
                            Some(d) => Value::Date(Some(days_since_epoch(d))),
                            None => {
                                failure = Some(reject(
                                    Check::BadDate,
                                    format!(
                                        "column {}: {field:?} is not {}",
                                        c.name,
                                        format.describe()
                                    ),
                                ));
                                break;
                            }
                        }
                    }
                }
            };
            // A period kept as text or a year (QOF's `2025-26`, the survey's
            // 2026) goes through the same checks as a date.
            if c.period
                && !matches!(c.kind, ColumnKind::Date { .. })
                && let Err((check, why)) = check_period_value(&value, today)
            {
                failure = Some(reject(check, format!("column {}: {why}", c.name)));
                break;
            }
            values.push(value);
        }
        if let Some(f) = failure {
            quarantined.push(f);
            continue;
        }
        let number = |name: &str| -> Option<f64> {
            match values.get(*index_of.get(name)?)? {
                Value::Int(Some(v), _) => Some(*v as f64),
                Value::Float(Some(v), _) => Some(*v),
                _ => None,
            }
        };
        if let Some((num, den)) = shape
            .at_most
            .iter()
            .find(|(n, d)| matches!((number(n), number(d)), (Some(a), Some(b)) if a > b))
        {
            quarantined.push(reject(
                Check::NumeratorAboveDenominator,
                format!(
                    "{num} {} is above {den} {}",
                    number(num).unwrap_or_default(),
                    number(den).unwrap_or_default()
                ),
            ));
            continue;
        }
        // Duplicate keys: a row repeated exactly is counted once; rows that
        // share a key but disagree are all set aside, since which is right
        // cannot be known here (the practice's period then shows as missing).
        let key = key_hash(&values, &key_columns);
        let mut hasher = DefaultHasher::new();
        values.iter().for_each(|v| v.hash_into(&mut hasher));
        let values_hash = hasher.finish();
        match first_with_key.entry(key) {
            Entry::Vacant(e) => {
                e.insert(FirstWithKey {
                    row: rows.built,
                    line: line_no,
                    values_hash,
                    conflicted: false,
                });
            }
            Entry::Occupied(mut e) => {
                let described = key_columns
                    .iter()
                    .map(|&i| format!("{} {}", shape.columns[i].name, values[i].display()))
                    .collect::<Vec<_>>()
                    .join(", ");
                let first = e.get_mut();
                let reason = if first.values_hash == values_hash && !first.conflicted {
                    format!(
                        "duplicate of line {} ({described}): the row is counted once",
                        first.line
                    )
                } else {
                    if !first.conflicted {
                        first.conflicted = true;
                        conflicted_rows.push((
                            first.row,
                            first.line,
                            format!(
                                "line {line_no} has the same key ({described}) with different values: neither row is loaded; send a corrected file"
                            ),
                        ));
                    }
                    format!(
                        "same key as line {} ({described}) with different values: neither row is loaded; send a corrected file",
                        first.line
                    )
                };
                quarantined.push(reject(Check::DuplicateKey, reason));
                continue;
            }
        }
        rows.push(values, file_label, line_no);
        if rows.pending() >= BATCH_ROWS {
            spool.push(rows.finish()?)?;
        }
    }
    if rows.pending() > 0 {
        spool.push(rows.finish()?)?;
    }
    // The books must balance before a single row is handed on: every row
    // read is built (to be loaded, or set aside below as a conflicting
    // duplicate) or already set aside. A file that does not balance is
    // refused whole rather than loaded with rows unaccounted for.
    if rows_read != rows.built + quarantined.len() {
        return Err(IngestError::Unbalanced {
            file: file_label.to_string(),
            read: rows_read,
            accounted: rows.built + quarantined.len(),
        });
    }

    // The whole file is read: hand its rows on, less any that a later row
    // with the same key contradicted.
    let set_aside: HashMap<usize, (usize, String)> = conflicted_rows
        .into_iter()
        .map(|(row, line, reason)| (row, (line, reason)))
        .collect();
    let mut offset = 0usize;
    spool.drain(&mut |batch| {
        let n = batch.num_rows();
        let in_batch: Vec<usize> = (offset..offset + n)
            .filter(|r| set_aside.contains_key(r))
            .collect();
        let batch = if in_batch.is_empty() {
            batch
        } else {
            let columns = batch.num_columns() - 2; // not source_file, source_line
            for r in &in_batch {
                let (line, reason) = &set_aside[r];
                quarantined.push(QuarantinedRow::new(
                    source,
                    file_label,
                    *line,
                    Check::DuplicateKey,
                    reason.clone(),
                    &row_text(&batch, columns, r - offset),
                ));
            }
            let keep: arrow::array::BooleanArray = (offset..offset + n)
                .map(|r| Some(!set_aside.contains_key(&r)))
                .collect();
            arrow::compute::filter_record_batch(&batch, &keep)
                .map_err(|e| IngestError::Internal(e.to_string()))?
        };
        offset += n;
        emit(batch)
    })?;
    // In file order, as a person reading the quarantine expects.
    quarantined.sort_by_key(|q| q.line);
    Ok(FileStats {
        quarantined,
        rows_read,
        encoding: encodings.label(),
        header_line,
    })
}

/// Arrow builders for a shape's columns, finished into a batch every
/// [`BATCH_ROWS`] rows.
struct RowBuilder {
    schema: SchemaRef,
    builders: Vec<Builder>,
    file: StringBuilder,
    line: Int64Builder,
    /// Rows built so far in this file (across batches).
    built: usize,
    pending: usize,
}

impl RowBuilder {
    fn new(shape: &Shape, schema: SchemaRef) -> RowBuilder {
        let builders = shape
            .columns
            .iter()
            .map(|c| match &c.kind {
                ColumnKind::PracticeCode | ColumnKind::Text => Builder::Text(StringBuilder::new()),
                ColumnKind::Count { suppressible } => {
                    Builder::Int(Int64Builder::new(), suppressible.then(BooleanBuilder::new))
                }
                ColumnKind::Decimal { suppressible } => Builder::Float(
                    Float64Builder::new(),
                    suppressible.then(BooleanBuilder::new),
                ),
                ColumnKind::Date { .. } => Builder::Date(Date32Builder::new()),
            })
            .collect();
        RowBuilder {
            schema,
            builders,
            file: StringBuilder::new(),
            line: Int64Builder::new(),
            built: 0,
            pending: 0,
        }
    }

    fn pending(&self) -> usize {
        self.pending
    }

    fn push(&mut self, values: Vec<Value>, file: &str, line: usize) {
        for (b, v) in self.builders.iter_mut().zip(values) {
            match (b, v) {
                (Builder::Text(b), Value::Text(s)) => b.append_value(s),
                (Builder::Int(b, flag), Value::Int(v, suppressed)) => {
                    b.append_option(v);
                    if let Some(f) = flag {
                        f.append_value(suppressed);
                    }
                }
                (Builder::Float(b, flag), Value::Float(v, suppressed)) => {
                    b.append_option(v);
                    if let Some(f) = flag {
                        f.append_value(suppressed);
                    }
                }
                (Builder::Date(b), Value::Date(v)) => b.append_option(v),
                _ => unreachable!("values are built in the shape's column order"),
            }
        }
        self.file.append_value(file);
        self.line.append_value(line as i64);
        self.built += 1;
        self.pending += 1;
    }

    fn finish(&mut self) -> Result<RecordBatch> {
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for b in &mut self.builders {
            match b {
                Builder::Text(b) => arrays.push(Arc::new(b.finish())),
                Builder::Int(b, flag) => {
                    arrays.push(Arc::new(b.finish()));
                    if let Some(f) = flag {
                        arrays.push(Arc::new(f.finish()));
                    }
                }
                Builder::Float(b, flag) => {
                    arrays.push(Arc::new(b.finish()));
                    if let Some(f) = flag {
                        arrays.push(Arc::new(f.finish()));
                    }
                }
                Builder::Date(b) => arrays.push(Arc::new(b.finish())),
            }
        }
        arrays.push(Arc::new(self.file.finish()));
        arrays.push(Arc::new(self.line.finish()));
        self.pending = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| IngestError::Internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::builtin;

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
        let known: HashSet<String> = ["A81001".to_string()].into();
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
        let known: HashSet<String> = ["A81001".to_string()].into();
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
