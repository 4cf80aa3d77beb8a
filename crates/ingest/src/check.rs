//! The named checks a row (or a whole file) can fail, and a row set aside
//! with its evidence.

/// The named row checks. Names are stable: reports and users filter on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    /// A quoted field that never closes: its line is set aside and the
    /// lines after it are read as rows.
    UnbalancedQuote,
    FieldCount,
    RequiredMissing,
    PracticeCodeFormat,
    UnknownPractice,
    NotACount,
    NegativeCount,
    NotANumber,
    BadDate,
    NumeratorAboveDenominator,
    /// Another row of the same file has the same key.
    DuplicateKey,
    /// A period before 1990 or after the current month.
    PeriodOutOfRange,
    /// The whole file could not be read (empty, binary, no header).
    UnreadableFile,
    /// The file carries patient-level identifiers and was refused whole.
    PatientIdentifiers,
    /// A line too long to be an extract's: the file was not loaded.
    LineTooLong,
    /// A file in a landing folder that no source reads.
    UnclaimedFile,
    /// A symbolic link leading out of the folder it was found in: not read.
    OutsideFolder,
}

impl Check {
    pub const ALL: [Check; 17] = [
        Check::UnbalancedQuote,
        Check::FieldCount,
        Check::RequiredMissing,
        Check::PracticeCodeFormat,
        Check::UnknownPractice,
        Check::NotACount,
        Check::NegativeCount,
        Check::NotANumber,
        Check::BadDate,
        Check::NumeratorAboveDenominator,
        Check::DuplicateKey,
        Check::PeriodOutOfRange,
        Check::UnreadableFile,
        Check::PatientIdentifiers,
        Check::LineTooLong,
        Check::UnclaimedFile,
        Check::OutsideFolder,
    ];

    /// The check with this name (as stored in the quarantine table).
    pub fn from_name(name: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|c| c.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Check::UnbalancedQuote => "unbalanced_quote",
            Check::FieldCount => "field_count",
            Check::RequiredMissing => "required_missing",
            Check::PracticeCodeFormat => "practice_code_format",
            Check::UnknownPractice => "unknown_practice",
            Check::NotACount => "not_a_count",
            Check::NegativeCount => "negative_count",
            Check::NotANumber => "not_a_number",
            Check::BadDate => "bad_date",
            Check::NumeratorAboveDenominator => "numerator_above_denominator",
            Check::DuplicateKey => "duplicate_key",
            Check::PeriodOutOfRange => "period_out_of_range",
            Check::UnreadableFile => "unreadable_file",
            Check::PatientIdentifiers => "patient_identifiers",
            Check::LineTooLong => "line_too_long",
            Check::UnclaimedFile => "unclaimed_file",
            Check::OutsideFolder => "outside_folder",
        }
    }
}

/// A row (or a whole file) that failed a check, kept with its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantinedRow {
    pub source: String,
    pub file: String,
    pub line: usize,
    pub check: Check,
    pub reason: String,
    pub raw: String,
}

impl QuarantinedRow {
    pub fn new(
        source: &str,
        file: &str,
        line: usize,
        check: Check,
        reason: String,
        raw: &str,
    ) -> Self {
        QuarantinedRow {
            source: source.to_string(),
            file: file.to_string(),
            line,
            check,
            reason,
            raw: raw.chars().take(500).collect(),
        }
    }
}
