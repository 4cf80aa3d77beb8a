//! Reusing an indicator's output when nothing it reads has changed.
//!
//! After a run computes an indicator, its query output (before the output
//! contract is checked, exactly as the engine returned it) is kept in the
//! warehouse as one Parquet object under `_indicator_results/<id>/`, named
//! by a key that hashes everything the output depends on: this release,
//! the indicator's SQL, the shared views' SQL and the version of each table
//! the SQL reads (through its views). A later run whose key for that
//! indicator is the same reads the object back instead of running the SQL;
//! anything else (a table it reads reloaded, an edited view, an upgrade)
//! gives another key, so a stale output can never be reused. Comparisons,
//! statistics and pages are always made afresh from the rows, so the
//! published results are those of a full run, byte for byte.
//!
//! The cache is only an optimisation: an object that cannot be read or
//! written is logged and the indicator computed as usual.

use std::collections::{BTreeMap, BTreeSet};

use peerbench_indicators::{Computed, Indicator};
use peerbench_warehouse::Warehouse;
use sha2::{Digest, Sha256};

/// Where the outputs are kept, beside the tables.
pub const FOLDER: &str = "_indicator_results";

/// Changes whenever what is kept, or how, changes.
const FORMAT: u32 = 1;

/// The key of an indicator's output: None when the tables it reads are not
/// all warehouse tables (then its output is always computed).
pub fn key(
    indicator: &Indicator,
    views: &str,
    versions: &BTreeMap<String, u64>,
    read: &BTreeSet<String>,
) -> Option<String> {
    let mut h = Sha256::new();
    h.update(format!(
        "peerbench {} indicator output {FORMAT}\n{}\n{views}\n",
        env!("CARGO_PKG_VERSION"),
        indicator.sql
    ));
    for table in read {
        h.update(format!("{table}@{};", versions.get(table)?));
    }
    Some(crate::hex(&h.finalize()))
}

fn object(id: &str, key: &str) -> String {
    format!("{FOLDER}/{id}/{key}.parquet")
}

/// Whether an output is kept under `key` (without reading it).
pub async fn is_kept(warehouse: &Warehouse, id: &str, key: &str) -> bool {
    let wanted = object(id, key);
    warehouse
        .list_objects(&format!("{FOLDER}/{id}"))
        .await
        .is_ok_and(|kept| kept.contains(&wanted))
}

/// The output kept under `key`, if there is one that reads back whole.
pub async fn load(warehouse: &Warehouse, id: &str, key: &str) -> Option<Computed> {
    let bytes = match warehouse.get_object(&object(id, key)).await {
        Ok(found) => found?,
        Err(e) => {
            tracing::warn!(indicator = id, "could not read its kept output: {e}");
            return None;
        }
    };
    match decode(bytes) {
        Ok(computed) => Some(computed),
        Err(e) => {
            tracing::warn!(
                indicator = id,
                "its kept output is unreadable ({e}); computing it"
            );
            None
        }
    }
}

/// An output as it is kept: a Parquet file. None (with a warning) if it
/// cannot be encoded; the run goes on without keeping it.
pub fn encode(id: &str, computed: &Computed) -> Option<Vec<u8>> {
    encode_parquet(computed)
        .inspect_err(|e| tracing::warn!(indicator = id, "could not keep its output: {e}"))
        .ok()
}

/// Keeps an output, `encode`d, under `key`, and drops the indicator's
/// earlier outputs (no later run can have their keys again except by
/// reloading the very same table versions, which Delta never reissues).
pub async fn store(warehouse: &Warehouse, id: &str, key: &str, encoded: Vec<u8>) {
    if let Err(e) = warehouse.put_object(&object(id, key), encoded).await {
        tracing::warn!(indicator = id, "could not keep its output: {e}");
        return;
    }
    let earlier = warehouse
        .list_objects(&format!("{FOLDER}/{id}"))
        .await
        .unwrap_or_default();
    for old in earlier.iter().filter(|k| **k != object(id, key)) {
        if let Err(e) = warehouse.delete_object(old).await {
            tracing::warn!(indicator = id, "could not drop an earlier kept output: {e}");
        }
    }
}

fn encode_parquet(computed: &Computed) -> Result<Vec<u8>, parquet::errors::ParquetError> {
    let mut bytes = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut bytes, computed.schema.clone(), None)?;
    for batch in &computed.batches {
        writer.write(batch)?;
    }
    writer.close()?;
    Ok(bytes)
}

fn decode(bytes: Vec<u8>) -> Result<Computed, parquet::errors::ParquetError> {
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(bytes),
    )?;
    let schema = builder.schema().clone();
    let reader = builder.build()?;
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    Ok(Computed { schema, batches })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::Arc;

    use arrow::array::{Float64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn outputs_read_back_exactly() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("practice_code", DataType::Utf8, false),
            Field::new("numerator", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["A81001", "A81002"])),
                Arc::new(Float64Array::from(vec![Some(0.1 + 0.2), None])),
            ],
        )
        .unwrap();
        let computed = Computed {
            schema,
            batches: vec![batch],
        };
        let back = decode(encode_parquet(&computed).unwrap()).unwrap();
        assert_eq!(back.schema, computed.schema);
        assert_eq!(back.batches, computed.batches);
        // An output with no rows keeps its columns.
        let empty = Computed {
            schema: computed.schema.clone(),
            batches: Vec::new(),
        };
        let back = decode(encode_parquet(&empty).unwrap()).unwrap();
        assert_eq!(back.schema, computed.schema);
        assert_eq!(
            back.batches
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>(),
            0
        );
    }

    #[test]
    fn the_key_changes_with_a_table_read_and_not_with_one_unread() {
        let text = "/*\nid = \"dna_rate\"\ntitle = \"DNA\"\nnumerator = \"n\"\ndenominator = \"d\"\ndomain = \"demand\"\nvalue_type = \"proportion\"\npolarity = \"low_is_good\"\ndefinition = \"x\"\nsource = \"GPAD\"\n*/\nSELECT 1\n";
        let ind = Indicator::parse(Path::new("dna_rate.sql"), text).unwrap();
        let read: BTreeSet<String> = ["appointments".to_string()].into();
        let versions = |a: u64, q: u64| {
            BTreeMap::from([("appointments".to_string(), a), ("qof".to_string(), q)])
        };
        let k = key(&ind, "", &versions(3, 1), &read).unwrap();
        assert_eq!(key(&ind, "", &versions(3, 2), &read).unwrap(), k);
        assert_ne!(key(&ind, "", &versions(4, 1), &read).unwrap(), k);
        assert_ne!(key(&ind, "CREATE VIEW", &versions(3, 1), &read).unwrap(), k);
        let unknown: BTreeSet<String> = ["not_a_table".to_string()].into();
        assert_eq!(key(&ind, "", &versions(3, 1), &unknown), None);
    }
}
