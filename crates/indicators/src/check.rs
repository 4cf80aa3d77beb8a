//! Checking indicators before anything runs: metadata that makes sense, and
//! SQL that plans against the warehouse's schema and meets the output
//! contract — without executing the heavy part (DataFusion plans lazily).

use arrow::datatypes::{DataType, Schema};
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

use crate::{Indicator, ValueType, close_matches, did_you_mean, sandbox};

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

/// The errors a DataFusion error wraps, outermost first (through its
/// context and diagnostics to the root).
fn chain(e: &DataFusionError) -> impl Iterator<Item = &DataFusionError> {
    std::iter::successors(Some(e), |e| {
        std::error::Error::source(*e)?.downcast_ref::<DataFusionError>()
    })
}

/// The tables and views the SQL names that the session does not have:
/// what DataFusion's plan error "table '…' not found" is about, found from
/// the statement rather than the message's words.
fn unknown_tables(ctx: &SessionContext, sql: &str) -> Vec<String> {
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let Ok(statement) = state.sql_to_statement(sql, &dialect) else {
        return Vec::new();
    };
    state
        .resolve_table_references(&statement)
        .unwrap_or_default()
        .into_iter()
        .filter(|t| !ctx.table_exist(t.clone()).unwrap_or(true))
        .map(|t| t.table().to_string())
        .collect()
}

/// Turns a planning error into a located, actionable problem: an unknown
/// column or table gets its position in the file and the close matches.
fn explain(
    ctx: &SessionContext,
    ind: &Indicator,
    error: &DataFusionError,
    known_tables: &[String],
) -> Problem {
    let body_start = ind.sql.find("*/").map_or(0, |i| i + 2);
    let locate = |name: &str| locate(ind, name);
    let text = error.to_string();
    if crate::is_recursion_refused(&text) {
        let (l, c) = locate("recursive");
        return Problem::at(l, c, crate::RECURSION_REFUSED);
    }
    for e in chain(error) {
        match e {
            DataFusionError::SchemaError(schema, _) => {
                if let SchemaError::FieldNotFound {
                    field,
                    valid_fields,
                } = schema.as_ref()
                {
                    let name = field.name();
                    let (l, c) = locate(name);
                    let valid: Vec<String> = valid_fields.iter().map(|f| f.flat_name()).collect();
                    let suggestion =
                        did_you_mean(&close_matches(name, valid.iter().map(String::as_str)));
                    return Problem::at(l, c, format!("unknown column {name:?}{suggestion}"));
                }
            }
            DataFusionError::Plan(_) => {
                if let Some(name) = unknown_tables(ctx, &ind.sql).into_iter().next() {
                    let (l, c) = locate(&name);
                    let suggestion =
                        match close_matches(&name, known_tables.iter().map(String::as_str))
                            .as_slice()
                        {
                            [] => format!(" (tables and views: {})", known_tables.join(", ")),
                            m => did_you_mean(m),
                        };
                    return Problem::at(
                        l,
                        c,
                        format!("unknown table or view {name:?}{suggestion}"),
                    );
                }
            }
            _ => {}
        }
    }
    let first = text.lines().next().unwrap_or(&text);
    // sqlparser's errors carry their place only in their words, "at Line:
    // 13, Column: 5", counted in the whole file (the metadata is a comment).
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
        Err(e) => problems.push(explain(ctx, ind, &e, known_tables)),
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An indicator `t.sql` whose SQL starts on line 12.
    fn indicator(sql: &str) -> Indicator {
        let text = format!(
            "/*\nid = \"t\"\ntitle = \"T\"\nnumerator = \"n\"\ndenominator = \"d\"\ndomain = \"demand\"\nvalue_type = \"proportion\"\npolarity = \"low_is_good\"\ndefinition = \"x\"\nsource = \"GPAD\"\n*/\n{sql}"
        );
        Indicator::parse(std::path::Path::new("t.sql"), &text).unwrap()
    }

    async fn problems(sql: &str) -> Vec<Problem> {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE appointments (practice_code VARCHAR, month DATE, appt_status VARCHAR, appointments BIGINT)")
            .await
            .unwrap();
        let known = ["appointments".to_string(), "practices".to_string()];
        check_indicator(&ctx, &indicator(sql), &known).await
    }

    #[tokio::test]
    async fn an_unknown_column_is_found_by_datafusions_schema_error() {
        let sql = "SELECT practice_code, month AS period,\n  sum(CASE WHEN appt_statu = 'DNA' THEN 1 ELSE 0 END) AS numerator,\n  sum(appointments) AS denominator\nFROM appointments GROUP BY 1, 2\n";
        assert_eq!(
            problems(sql).await,
            [Problem::at(
                13,
                17,
                "unknown column \"appt_statu\" — did you mean appt_status?"
            )]
        );
    }

    #[tokio::test]
    async fn an_unknown_table_is_found_from_the_statement() {
        let sql = "SELECT practice_code, month AS period,\n  1 AS numerator, 1 AS denominator\nFROM appointmentz\n";
        assert_eq!(
            problems(sql).await,
            [Problem::at(
                14,
                6,
                "unknown table or view \"appointmentz\" — did you mean appointments?"
            )]
        );
        let sql = "WITH x AS (SELECT 1 AS a)\nSELECT * FROM x JOIN zzz ON true\n";
        assert_eq!(
            problems(sql).await,
            [Problem::at(
                13,
                22,
                "unknown table or view \"zzz\" (tables and views: appointments, practices)"
            )]
        );
    }

    #[tokio::test]
    async fn a_parse_error_keeps_sqlparsers_place() {
        let sql = "SELECT practice_code\nFROM appointments WHERE )\n";
        assert_eq!(
            problems(sql).await,
            [Problem::at(
                13,
                25,
                "SQL error: ParserError(\"Expected: an expression, found: ) at Line: 13, Column: 25\")"
            )]
        );
    }
}
