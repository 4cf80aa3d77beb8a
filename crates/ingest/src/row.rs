//! The checks on one row: its field count, each field (see [`crate::field`])
//! and the checks between columns (a numerator above its denominator).

use csv::StringRecord;

use crate::Check;
use crate::field::{FieldContext, Value, parse_field};
use crate::shape::Shape;

/// A row's values in the shape's column order, or the first check it fails.
/// `positions` maps each shape column to its field in the file (None: the
/// file lacks that optional column, read as empty); `header_len` is how many
/// fields the header has.
pub(crate) fn check_row<'r>(
    shape: &Shape,
    positions: &[Option<usize>],
    header_len: usize,
    record: &'r StringRecord,
    context: &FieldContext,
) -> Result<Vec<Value<'r>>, (Check, String)> {
    if record.len() != header_len {
        return Err((
            Check::FieldCount,
            format!("{} fields where the header has {header_len}", record.len()),
        ));
    }
    let mut values: Vec<Value<'r>> = Vec::with_capacity(shape.columns.len());
    for (column, pos) in shape.columns.iter().zip(positions) {
        let field = pos.and_then(|p| record.get(p)).unwrap_or("");
        values.push(parse_field(column, field, context)?);
    }
    check_at_most(shape, &values)?;
    Ok(values)
}

/// The shape's `numerator ≤ denominator` pairs, on a row's values.
fn check_at_most(shape: &Shape, values: &[Value]) -> Result<(), (Check, String)> {
    let number = |name: &str| -> Option<f64> {
        // The last column of that name, as a name → index map would give.
        let i = shape.columns.iter().rposition(|c| c.name == name)?;
        values.get(i)?.number()
    };
    match shape
        .at_most
        .iter()
        .find(|(n, d)| matches!((number(n), number(d)), (Some(a), Some(b)) if a > b))
    {
        Some((num, den)) => Err((
            Check::NumeratorAboveDenominator,
            format!(
                "{num} {} is above {den} {}",
                number(num).unwrap_or_default(),
                number(den).unwrap_or_default()
            ),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::builtin;
    use chrono::NaiveDate;

    /// A clinical search row, in the header's order.
    fn check(fields: &[&str]) -> Result<Vec<Value<'static>>, (Check, String)> {
        let shape = builtin("clinical_search").unwrap();
        let context = FieldContext {
            known_practices: None,
            today: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
        };
        // The file's columns in another order than the shape's, without the
        // optional search_name: practice, search, period, numerator, denominator.
        let positions = [Some(0), Some(2), Some(1), None, Some(3), Some(4)];
        check_row(
            &shape,
            &positions,
            5,
            // Values borrow their record; a test's may live to the end.
            Box::leak(Box::new(StringRecord::from(fields.to_vec()))),
            &context,
        )
    }

    #[test]
    fn a_good_row_has_its_values_in_the_shapes_order() {
        assert_eq!(
            check(&["A81001", "SMR", "30/09/2026", "*", "120"]),
            Ok(vec![
                Value::Text("A81001"),
                Value::Date(Some(20726)),
                Value::Text("SMR"),
                Value::Text(""),
                Value::Int(None, true),
                Value::Int(Some(120), false),
            ])
        );
    }

    #[test]
    fn a_row_must_have_as_many_fields_as_the_header() {
        assert_eq!(
            check(&["A81001", "SMR", "30/09/2026", "5"]),
            Err((
                Check::FieldCount,
                "4 fields where the header has 5".to_string()
            ))
        );
    }

    #[test]
    fn the_first_failing_field_is_the_rows_check() {
        assert_eq!(
            check(&["A8100", "SMR", "31/13/2026", "5", "10"]),
            Err((
                Check::PracticeCodeFormat,
                "column practice_code: \"A8100\" is not a practice code (expected a letter and five digits, e.g. A81001)".to_string()
            ))
        );
    }

    #[test]
    fn a_numerator_may_not_exceed_its_denominator() {
        assert_eq!(
            check(&["A81001", "SMR", "30/09/2026", "140", "101"]),
            Err((
                Check::NumeratorAboveDenominator,
                "numerator 140 is above denominator 101".to_string()
            ))
        );
        // A suppressed numerator is not compared.
        assert!(check(&["A81001", "SMR", "30/09/2026", "*", "1"]).is_ok());
        assert!(check(&["A81001", "SMR", "30/09/2026", "101", "101"]).is_ok());
    }
}
