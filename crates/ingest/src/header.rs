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
