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
pub(crate) fn check_row(
    shape: &Shape,
    positions: &[Option<usize>],
    header_len: usize,
    record: &StringRecord,
    context: &FieldContext,
) -> Result<Vec<Value>, (Check, String)> {
    if record.len() != header_len {
        return Err((
            Check::FieldCount,
            format!("{} fields where the header has {header_len}", record.len()),
        ));
    }
    let mut values: Vec<Value> = Vec::with_capacity(shape.columns.len());
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
