//! What a load would do, said without doing it: which sources would be read
//! and committed, and why, from file hashes and the ledger alone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use peerbench_warehouse::Warehouse;

use crate::extraction::{extracts, hash_file};
use crate::ledger::{LastLoad, latest_files, load_definition};
use crate::tables::register_codes;
use crate::{Result, Source};

/// What a load would do with one source, said without doing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePlan {
    pub table: String,
    pub files: usize,
    /// Whether the load would read and commit the source.
    pub load: bool,
    /// Why, in words: "unchanged", "new table", "2 files new or changed: …".
    pub why: String,
}

/// What `ingest` would do with each source — which would be read and
/// committed, and why — reading only file hashes and the ledger.
pub async fn plan(
    warehouse: &Warehouse,
    sources: &[Source],
    base_dir: &Path,
    register_table: Option<&str>,
) -> Result<Vec<SourcePlan>> {
    let known = match register_table {
        Some(t) => register_codes(warehouse, t).await?,
        None => None,
    };
    let mut plans = Vec::new();
    for source in sources {
        let extracts = extracts(source, base_dir).await?;
        let mut current = BTreeMap::new();
        for e in &extracts {
            current.insert(e.key.clone(), (hash_file(&e.path)?, e.label.clone()));
        }
        let (load, why) = if warehouse.version(&source.table).await?.is_none() {
            (true, "new table: every file is read".into())
        } else {
            let last = latest_files(warehouse, &source.table).await?;
            let known = if source.check_register {
                known.as_ref()
            } else {
                None
            };
            let definition = load_definition(source, known);
            decide(&current, &last, definition)
        };
        plans.push(SourcePlan {
            table: source.table.clone(),
            files: current.len(),
            load,
            why,
        });
    }
    Ok(plans)
}

/// Whether an existing table would be loaded again, and why: its files
/// (`current`, file key → hash and name) against those of its last load
/// and the definitions that load was checked under.
fn decide(
    current: &BTreeMap<String, (String, String)>,
    last: &LastLoad,
    definition: String,
) -> (bool, String) {
    if last.before_keys {
        return (
            true,
            "the last load was recorded before files were known by their real path: every file is read again, once".into(),
        );
    }
    let changed: Vec<&String> = current
        .iter()
        .filter(|(k, (h, _))| last.files.get(*k).map(|(was, _)| was) != Some(h))
        .map(|(_, (_, name))| name)
        .collect();
    let gone: Vec<&String> = last
        .files
        .iter()
        .filter(|(k, _)| !current.contains_key(*k))
        .map(|(_, (_, name))| name)
        .collect();
    let name = |v: &[&String]| {
        let shown: Vec<&str> = v.iter().take(3).map(|f| f.as_str()).collect();
        let more = v.len().saturating_sub(3);
        if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    if !changed.is_empty() || !gone.is_empty() {
        let mut why = Vec::new();
        if !changed.is_empty() {
            why.push(format!(
                "{} file(s) new or changed: {}",
                changed.len(),
                name(&changed)
            ));
        }
        if !gone.is_empty() {
            why.push(format!(
                "{} file(s) gone since the last load: {}",
                gone.len(),
                name(&gone)
            ));
        }
        (true, why.join("; "))
    } else if last.definitions != BTreeSet::from([definition]) {
        (
            true,
            "the files are unchanged, but the checks, the source's definition or the practice register changed: every file is read again".into(),
        )
    } else {
        (
            false,
            "unchanged since the last load: nothing read or committed".into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, (String, String)> {
        pairs
            .iter()
            .map(|(f, h)| (f.to_string(), (h.to_string(), format!("./{f}"))))
            .collect()
    }

    #[test]
    fn a_source_is_read_again_when_a_file_or_its_definition_changed() {
        let last = LastLoad {
            files: files(&[("a.csv", "1"), ("b.csv", "2")]),
            definitions: BTreeSet::from(["d1".to_string()]),
            before_keys: false,
        };
        let decide_now = |current: &[(&str, &str)], definition: &str| {
            decide(&files(current), &last, definition.to_string())
        };
        assert_eq!(
            decide_now(&[("a.csv", "1"), ("b.csv", "2")], "d1"),
            (
                false,
                "unchanged since the last load: nothing read or committed".into()
            )
        );
        assert_eq!(
            decide_now(&[("a.csv", "1"), ("b.csv", "2")], "d2"),
            (
                true,
                "the files are unchanged, but the checks, the source's definition or the practice register changed: every file is read again".into()
            )
        );
        assert_eq!(
            decide_now(&[("a.csv", "9"), ("c.csv", "3")], "d1"),
            (
                true,
                "2 file(s) new or changed: ./a.csv, ./c.csv; 1 file(s) gone since the last load: ./b.csv"
                    .into()
            )
        );
        assert_eq!(
            decide_now(
                &[
                    ("a.csv", "9"),
                    ("b.csv", "9"),
                    ("c.csv", "9"),
                    ("d.csv", "9"),
                    ("e.csv", "9")
                ],
                "d1"
            ),
            (
                true,
                "5 file(s) new or changed: ./a.csv, ./b.csv, ./c.csv and 2 more".into()
            )
        );
        // A ledger from before file keys named files as the working
        // directory saw them: it cannot say they are unchanged.
        let legacy = LastLoad {
            before_keys: true,
            ..last
        };
        assert!(
            decide(
                &files(&[("a.csv", "1"), ("b.csv", "2")]),
                &legacy,
                "d1".into()
            )
            .0
        );
    }
}
