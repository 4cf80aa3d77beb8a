//! Finding the header: the first line, within [`MAX_PREAMBLE_LINES`], whose
//! fields name every required column of the shape (by its name or an
//! alias, ignoring case, spaces and underscores). Clinical systems put title
//! blocks above it.

use std::collections::HashSet;
use std::io::Read;

use crate::lines::Lines;
use crate::records::Record;
use crate::shape::{ColumnSpec, Shape, header_key};
use crate::{IngestError, Result};

/// How many lines may precede the header (clinical-system title blocks).
pub(crate) const MAX_PREAMBLE_LINES: usize = 30;

/// A file's header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// Its line number (1-based).
    pub line: usize,
    /// Its fields, trimmed.
    pub fields: Vec<String>,
    /// For each column of the shape, the position of its field (None: an
    /// optional column the file does not have).
    pub positions: Vec<Option<usize>>,
}

/// The names a column answers to, as header keys: its own and its aliases.
fn column_keys(column: &ColumnSpec) -> impl Iterator<Item = String> + '_ {
    std::iter::once(column.name.as_str())
        .chain(column.aliases.iter().map(String::as_str))
        .map(header_key)
}

/// The required columns of `shape` that none of `fields` names.
pub(crate) fn missing_columns(shape: &Shape, fields: &[String]) -> Vec<String> {
    let keys: HashSet<String> = fields.iter().map(|f| header_key(f)).collect();
    shape
        .columns
        .iter()
        .filter(|c| c.required)
        .filter(|c| !column_keys(c).any(|k| keys.contains(&k)))
        .map(|c| c.name.clone())
        .collect()
}

/// Where each of the shape's columns is among a header's fields: the first
/// field naming it.
pub(crate) fn column_positions(shape: &Shape, fields: &[String]) -> Vec<Option<usize>> {
    shape
        .columns
        .iter()
        .map(|c| {
            let names: Vec<String> = column_keys(c).collect();
            fields.iter().position(|h| names.contains(&header_key(h)))
        })
        .collect()
}

/// The search for a header, line by line: remembers the closest miss (the
/// line lacking the fewest required columns) for the message when no line
/// is the header.
#[derive(Debug, Default)]
pub(crate) struct HeaderSearch {
    closest_missing: Vec<String>,
}

impl HeaderSearch {
    /// Offers a line's fields: the header, when they name every required column.
    pub(crate) fn offer(
        &mut self,
        shape: &Shape,
        line: usize,
        fields: Vec<String>,
    ) -> Option<Header> {
        let missing = missing_columns(shape, &fields);
        if missing.is_empty() {
            return Some(Header {
                line,
                positions: column_positions(shape, &fields),
                fields,
            });
        }
        if self.closest_missing.is_empty() || missing.len() < self.closest_missing.len() {
            self.closest_missing = missing;
        }
        None
    }

    /// The error for a file in which no line was the header.
    pub(crate) fn not_found(self, file: &str, source: &str, shape: &Shape) -> IngestError {
        IngestError::NoHeader {
            file: file.to_string(),
            source_name: source.to_string(),
            missing: self.closest_missing,
            expected: shape
                .columns
                .iter()
                .filter(|c| c.required)
                .map(|c| c.aliases.first().cloned().unwrap_or_else(|| c.name.clone()))
                .collect(),
        }
    }
}

/// Reads lines until the header, within [`MAX_PREAMBLE_LINES`].
pub(crate) fn find_header<R: Read>(
    lines: &mut Lines<'_, R>,
    shape: &Shape,
    source: &str,
    file: &str,
) -> Result<Header> {
    let mut search = HeaderSearch::default();
    while lines.next_line_number() <= MAX_PREAMBLE_LINES {
        match lines.next_record()? {
            None => break,
            // A title line with a stray quote is not the header.
            Some(Record::UnbalancedQuote { .. }) => continue,
            Some(Record::Fields { line, fields, .. }) => {
                let fields = lines.decode_trimmed(&fields);
                if let Some(header) = search.offer(shape, line, fields) {
                    return Ok(header);
                }
            }
        }
    }
    Err(search.not_found(file, source, shape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::builtin;

    fn search() -> Shape {
        builtin("clinical_search").unwrap()
    }

    fn fields(line: &str) -> Vec<String> {
        line.split(',').map(str::to_string).collect()
    }

    #[test]
    fn columns_are_found_by_name_or_alias_ignoring_case_spaces_and_underscores() {
        let header = fields("search code,NUMERATOR,practice_code,Month Ending,Population,Extra");
        assert_eq!(missing_columns(&search(), &header), Vec::<String>::new());
        // practice, period, search, name (absent), numerator, denominator.
        assert_eq!(
            column_positions(&search(), &header),
            vec![Some(2), Some(3), Some(0), None, Some(1), Some(4)]
        );
        assert_eq!(
            missing_columns(&search(), &fields("Practice Code,Numerator")),
            vec!["period_end", "search_code", "denominator"]
        );
    }

    #[test]
    fn the_header_is_the_first_line_naming_every_required_column() {
        let mut search_for = HeaderSearch::default();
        let shape = search();
        assert_eq!(search_for.offer(&shape, 1, fields("SystmOne report")), None);
        assert_eq!(
            search_for.offer(&shape, 2, fields("Practice Code,Numerator")),
            None
        );
        let header = fields("Practice Code,Period End,Search Code,Numerator,Denominator");
        assert_eq!(
            search_for.offer(&shape, 3, header.clone()),
            Some(Header {
                line: 3,
                fields: header,
                positions: vec![Some(0), Some(1), Some(2), None, Some(3), Some(4)],
            })
        );
    }

    #[test]
    fn without_a_header_the_closest_line_says_what_is_missing() {
        let mut search_for = HeaderSearch::default();
        let shape = search();
        search_for.offer(&shape, 1, fields("Practice Code,Numerator"));
        search_for.offer(
            &shape,
            2,
            fields("Practice Code,Period End,Numerator,Denominator"),
        );
        search_for.offer(&shape, 3, fields("title"));
        assert_eq!(
            search_for
                .not_found("f.csv", "searches", &shape)
                .to_string(),
            "f.csv: no header line found for source \"searches\" in the first 30 lines; \
             closest line lacks [\"search_code\"] (expected columns such as \
             [\"PRACTICE_CODE\", \"Period End\", \"Search Code\", \"Numerator\", \"Denominator\"])"
        );
    }

    #[test]
    fn the_header_may_follow_a_title_block_but_not_beyond_its_limit() {
        let header = "Practice Code,Period End,Search Code,Numerator,Denominator\n";
        let find = |preamble: usize| {
            let text = format!(
                "{}{header}A81001,30/09/2026,SMR,1,2\n",
                "Title\n".repeat(preamble)
            );
            let mut lines = Lines::open("f.csv", text.as_bytes(), 10).unwrap();
            find_header(&mut lines, &search(), "searches", "f.csv").map(|h| h.line)
        };
        assert_eq!(find(0).unwrap(), 1);
        assert_eq!(find(MAX_PREAMBLE_LINES - 1).unwrap(), MAX_PREAMBLE_LINES);
        assert!(matches!(
            find(MAX_PREAMBLE_LINES),
            Err(IngestError::NoHeader { .. })
        ));
    }
}
