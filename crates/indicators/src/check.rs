//! Checking indicators before anything runs: metadata that makes sense, and
//! SQL that plans against the warehouse's schema and meets the output
//! contract — without executing the heavy part (DataFusion plans lazily).

use arrow::datatypes::{DataType, Schema};
use datafusion::prelude::SessionContext;

use crate::{Indicator, ValueType, sandbox};

/// One thing wrong with an indicator, located as precisely as possible.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Problem {
    fn at(line: usize, column: usize, message: impl Into<String>) -> Problem {
        Problem {
            line,
            column,
            message: message.into(),
        }
    }
}

/// Line and column (1-based) of a byte offset in `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.chars().rev().take_while(|c| *c != '\n').count() + 1;
    (line, column)
}

/// Where a metadata key is written, for messages about its value.
fn key_position(ind: &Indicator, key: &str) -> (usize, usize) {
    ind.sql
        .lines()
        .enumerate()
        .find(|(_, l)| {
            l.trim_start().starts_with(&format!("{key} "))
                || l.trim_start().starts_with(&format!("{key}="))
        })
        .map_or((1, 1), |(i, l)| (i + 1, l.len() - l.trim_start().len() + 1))
}

fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && s.chars()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// Checks the metadata beyond what parsing already enforces.
pub fn check_metadata(ind: &Indicator) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (key, value) in [
        ("title", &ind.title),
        ("numerator", &ind.numerator),
        ("denominator", &ind.denominator),
        ("definition", &ind.definition),
        ("source", &ind.source),
    ] {
        if value.trim().is_empty() {
            let (l, c) = key_position(ind, key);
            problems.push(Problem::at(
                l,
                c,
                format!("{key} is empty: readers need it"),
            ));
        }
    }
    for (key, value) in [
        ("reviewed", &ind.reviewed),
        ("next_review", &ind.next_review),
    ] {
        if let Some(v) = value
            && !is_iso_date(v)
        {
            let (l, c) = key_position(ind, key);
            problems.push(Problem::at(
                l,
                c,
                format!("{key} = {v:?} is not a date as YYYY-MM-DD"),
            ));
        }
    }
    if let (Some(r), Some(n)) = (&ind.reviewed, &ind.next_review)
        && is_iso_date(r)
        && is_iso_date(n)
        && n <= r
    {
        let (l, c) = key_position(ind, "next_review");
        problems.push(Problem::at(
            l,
            c,
            format!("next_review {n} is not after reviewed {r}"),
        ));
    }
    if !(ind.min_denominator.is_finite() && ind.min_denominator >= 0.0) {
        let (l, c) = key_position(ind, "min_denominator");
        problems.push(Problem::at(l, c, "min_denominator must be zero or more"));
    }
    problems
}

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The names closest to `wanted` (at most three, within a few edits).
pub fn close_matches<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let wanted = wanted.to_ascii_lowercase();
    let mut scored: Vec<(usize, String)> = candidates
        .into_iter()
        .map(|c| {
            let short = c.rsplit('.').next().unwrap_or(c).to_string();
            (edit_distance(&wanted, &short.to_ascii_lowercase()), short)
        })
        .filter(|(d, s)| *d <= 2.max(wanted.len() / 3) && *d < s.len())
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, s)| s).collect()
}

/// Where the SQL (after the metadata) first uses `name` as a whole word,
/// case-insensitively; the start of the SQL if nowhere.
pub(crate) fn locate(ind: &Indicator, name: &str) -> (usize, usize) {
    let body_start = ind.sql.find("*/").map_or(0, |i| i + 2);
    let lower = ind.sql.to_ascii_lowercase();
    let needle = name.to_ascii_lowercase();
    let mut from = body_start;
    while let Some(i) = lower[from..].find(&needle) {
        let at = from + i;
        let before = lower[..at].chars().next_back();
        let after = lower[at + needle.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        if boundary(before) && boundary(after) {
            return position(&ind.sql, at);
        }
        from = at + needle.len();
    }
    position(&ind.sql, body_start)
}

/// Turns a planning error into a located, actionable problem: an unknown
/// column or table gets its position in the file and the close matches.
fn explain(ind: &Indicator, error: &str, known_tables: &[String]) -> Problem {
    let body_start = ind.sql.find("*/").map_or(0, |i| i + 2);
    let locate = |name: &str| locate(ind, name);
    if crate::is_recursion_refused(error) {
        let (l, c) = locate("recursive");
        return Problem::at(l, c, crate::RECURSION_REFUSED);
    }
    // "No field named appt_statu. Valid fields are a.x, a.y."
    if let Some(rest) = error.split("No field named ").nth(1) {
        let name = rest
            .split(['.', ' '])
            .next()
            .unwrap_or("")
            .trim_matches('"');
        let valid: Vec<&str> = rest
            .split("Valid fields are ")
            .nth(1)
            .map(|v| {
                v.trim_end_matches('.')
                    .split(", ")
                    .map(|f| f.trim_matches('"'))
                    .collect()
            })
            .unwrap_or_default();
        let (l, c) = locate(name);
        let suggestion = match close_matches(name, valid.iter().copied()).as_slice() {
            [] => String::new(),
            m => format!(" — did you mean {}?", m.join(" or ")),
        };
        return Problem::at(l, c, format!("unknown column {name:?}{suggestion}"));
    }
    // "table 'x' not found"
    if let Some(rest) = error.split("table '").nth(1) {
        let full = rest.split('\'').next().unwrap_or("");
        let name = full.rsplit('.').next().unwrap_or(full);
        let (l, c) = locate(name);
        let suggestion =
            match close_matches(name, known_tables.iter().map(String::as_str)).as_slice() {
                [] => format!(" (tables and views: {})", known_tables.join(", ")),
                m => format!(" — did you mean {}?", m.join(" or ")),
            };
        return Problem::at(l, c, format!("unknown table or view {name:?}{suggestion}"));
    }
    let first = error.lines().next().unwrap_or(error);
    // sqlparser errors carry "at Line: 3, Column: 5", counted within the SQL.
    if let Some(pos) = first.split("Line: ").nth(1) {
        let line: usize = pos
            .split(',')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(1);
        let column: usize = pos
            .split("Column: ")
            .nth(1)
            .and_then(|n| n.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
            .unwrap_or(1);
        return Problem::at(line, column, first.to_string());
    }
    let (l, c) = position(&ind.sql, body_start);
    Problem::at(l, c, first.to_string())
}

/// What the output contract asks of the query's schema.
pub fn check_output_schema(schema: &Schema, value_type: ValueType) -> Vec<String> {
    let mut problems = Vec::new();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut required = vec!["practice_code", "period", "numerator", "denominator"];
    if value_type.is_standardised() {
        required.push("age_band");
    }
    for name in required {
        let Ok(field) = schema.field_with_name(name) else {
            let hint = match close_matches(name, names.iter().copied()).as_slice() {
                [] => String::new(),
                m => format!(" (rename {} AS {name}?)", m.join(" or ")),
            };
            problems.push(format!(
                "the query must return a column named {name:?}; it returns {}{hint}",
                names.join(", ")
            ));
            continue;
        };
        let t = field.data_type();
        let ok = match name {
            "practice_code" | "age_band" => {
                matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
            }
            "period" => matches!(
                t,
                DataType::Date32
                    | DataType::Utf8
                    | DataType::LargeUtf8
                    | DataType::Utf8View
                    | DataType::Int32
                    | DataType::Int64
            ),
            _ => t.is_numeric() || *t == DataType::Null,
        };
        if !ok {
            problems.push(format!(
                "column {name} has type {t}, which the contract does not accept"
            ));
        }
    }
    problems
}

/// Checks one indicator: metadata, then the SQL planned (not run) against
/// the tables and views registered in `ctx`.
pub async fn check_indicator(
    ctx: &SessionContext,
    ind: &Indicator,
    known_tables: &[String],
) -> Vec<Problem> {
    let mut problems = check_metadata(ind);
    match ctx.sql_with_options(&ind.sql, sandbox()).await {
        Ok(df) => {
            let (l, c) = position(&ind.sql, ind.sql.find("*/").map_or(0, |i| i + 2));
            for p in check_output_schema(df.schema().as_arrow(), ind.value_type) {
                problems.push(Problem::at(l + 1, c.min(1), p));
            }
        }
        Err(e) => problems.push(explain(ind, &e.to_string(), known_tables)),
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_close() {
        assert_eq!(
            close_matches(
                "appt_statu",
                ["appointments.appt_status", "appointments.month"]
            ),
            vec!["appt_status"]
        );
        assert!(close_matches("zzz", ["appointments.appt_status"]).is_empty());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
