//! The run manifest: what one run read, did and made, for the operator who
//! is asked next month where a number came from.
//!
//! Every run appends one row to the warehouse's `runs` table (the manifest
//! as JSON beside a few columns to filter on), and a run that publishes puts
//! the manifest in its publication as `run.json`. Fields are documented in
//! docs/operations.md; `schema_version` changes whenever a field changes
//! meaning or is removed (adding a field does not change it).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

/// The manifest schema this release writes and reads.
pub const MANIFEST_SCHEMA: u32 = 1;

/// The warehouse table holding one row per run.
pub const RUNS_TABLE: &str = "runs";

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every indicator computed and the publication replaced.
    Success,
    /// Published, but at least one indicator failed and is shown as not
    /// computed (`on_indicator_error = "publish_rest"`).
    PublishedWithFailures,
    /// Nothing published: the previous publication stands.
    Failed,
    /// Inputs, indicators and settings unchanged since the last successful
    /// publication: nothing computed or published.
    NothingNew,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::PublishedWithFailures => "published_with_failures",
            Outcome::Failed => "failed",
            Outcome::NothingNew => "nothing_new",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineFile {
    pub path: String,
    pub sha256: String,
}

/// One input file as the load saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    pub source: String,
    pub file: String,
    pub sha256: String,
    pub rows_read: usize,
    pub rows_loaded: usize,
    pub rows_quarantined: usize,
    pub rows_superseded: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One indicator's part in the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndicatorRun {
    pub id: String,
    /// SHA-256 of the indicator's SQL file and every shared view's SQL.
    pub sql_sha256: String,
    /// `computed`, `reused` (its output kept by an earlier run, no table it
    /// reads having changed since), `failed` or `draft_not_run`.
    pub status: String,
    pub rows: usize,
    pub seconds: f64,
    /// Of `seconds`, running the SQL and collecting its output, when it was
    /// computed (0 when an earlier indicator ran the very same query); the
    /// rest is reading and checking the output and keeping it for reuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Row counts through the stages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub rows_read: usize,
    pub rows_loaded: usize,
    pub rows_quarantined: usize,
    pub indicator_rows: usize,
    pub result_rows: usize,
    pub pages: usize,
    /// Published files linked from the publication before (the same bytes),
    /// and of those, how many were not even made (nothing in them had
    /// changed); 0 in records written before they were counted.
    #[serde(default)]
    pub files_linked: usize,
    #[serde(default)]
    pub files_not_made: usize,
    /// Practice-indicator results in their latest period beyond the 99.8%
    /// funnel limits, in the primary peer group.
    pub outliers: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    /// This run: `<UTC start>-<pid>`, unique per invocation.
    pub run_id: String,
    /// What the publication was made from: the peerbench release, the
    /// pipeline file, the warehouse and output locations, the table
    /// versions read, every indicator's and view's SQL. Two runs with the
    /// same content id publish the same results.
    pub content_id: String,
    /// The id the pages show under "How this was made".
    pub report_id: String,
    pub command: String,
    pub started: String,
    pub ended: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub peerbench_version: String,
    pub pipeline: PipelineFile,
    pub warehouse: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    pub inputs: Vec<InputFile>,
    /// Every warehouse table the run read, at the version it read.
    pub table_versions: BTreeMap<String, u64>,
    pub indicators: Vec<IndicatorRun>,
    pub counts: Counts,
    pub quarantine_by_check: BTreeMap<String, usize>,
    pub warnings: Vec<String>,
    /// Seconds per stage: ingest, indicators (with comparisons), publish.
    pub stage_seconds: BTreeMap<String, f64>,
    /// The comparisons' own seconds, added up: they overlap the indicators'
    /// SQL, so the compare stage counts only the time the run waited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare_work_seconds: Option<f64>,
    /// The process's peak resident memory so far (Linux VmHWM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// The text the run was made from, so `run --as-of` can make it again
    /// after the files have changed (absent from runs that published
    /// nothing new, and from manifests written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definitions: Option<Definitions>,
}

/// The pipeline file, indicators and shared views exactly as a run read
/// them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Definitions {
    /// The pipeline file's text.
    pub pipeline: String,
    /// Each indicator's SQL file, by its path under the indicators folder.
    pub indicators: BTreeMap<String, String>,
    /// Each shared view's SQL file, by its path under the views folder.
    pub views: BTreeMap<String, String>,
}

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "run manifest {what} has schema version {found}; this peerbench reads version {MANIFEST_SCHEMA}: use the peerbench release that wrote it ({release})"
    )]
    Schema {
        what: String,
        found: u64,
        release: String,
    },
    #[error("run manifest {what} cannot be read: {reason}")]
    Unreadable { what: String, reason: String },
}

impl Manifest {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest serialises") + "\n"
    }

    /// Reads a manifest, refusing one of another schema with a message that
    /// says which release wrote it.
    pub fn parse(what: &str, text: &str) -> Result<Manifest, ManifestError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ManifestError::Unreadable {
                what: what.to_string(),
                reason: e.to_string(),
            })?;
        let found = value
            .get("schema_version")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if found != u64::from(MANIFEST_SCHEMA) {
            return Err(ManifestError::Schema {
                what: what.to_string(),
                found,
                release: value
                    .get("peerbench_version")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("unknown")
                    .to_string(),
            });
        }
        serde_json::from_value(value).map_err(|e| ManifestError::Unreadable {
            what: what.to_string(),
            reason: e.to_string(),
        })
    }

    pub fn duration_seconds(&self) -> Option<f64> {
        let start = chrono::DateTime::parse_from_rfc3339(&self.started).ok()?;
        let end = chrono::DateTime::parse_from_rfc3339(&self.ended).ok()?;
        Some((end - start).num_milliseconds() as f64 / 1000.0)
    }
}

pub fn runs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("started", DataType::Utf8, false),
        Field::new("ended", DataType::Utf8, false),
        Field::new("outcome", DataType::Utf8, false),
        Field::new("content_id", DataType::Utf8, false),
        Field::new("peerbench_version", DataType::Utf8, false),
        Field::new("schema_version", DataType::Utf8, false),
        Field::new("manifest", DataType::Utf8, false),
    ]))
}

/// The manifest as a row of the `runs` table.
pub fn runs_row(m: &Manifest) -> RecordBatch {
    let col = |s: &str| Arc::new(StringArray::from(vec![s.to_string()])) as _;
    RecordBatch::try_new(
        runs_schema(),
        vec![
            col(&m.run_id),
            col(&m.started),
            col(&m.ended),
            col(m.outcome.as_str()),
            col(&m.content_id),
            col(&m.peerbench_version),
            col(&m.schema_version.to_string()),
            col(&m.to_json()),
        ],
    )
    .expect("the runs row matches its schema")
}

/// Now, as the manifest writes times.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The process's peak resident memory (VmHWM), where /proc says.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            schema_version: MANIFEST_SCHEMA,
            run_id: "20261129T020000Z-42".into(),
            content_id: "c".into(),
            report_id: "r".into(),
            command: "run".into(),
            started: "2026-11-29T02:00:00.000Z".into(),
            ended: "2026-11-29T02:01:30.500Z".into(),
            outcome: Outcome::Success,
            error: None,
            peerbench_version: "0.1.0".into(),
            pipeline: PipelineFile {
                path: "pipelines/demo.toml".into(),
                sha256: "s".into(),
            },
            warehouse: "w".into(),
            output: Some("out/demo".into()),
            inputs: vec![],
            table_versions: BTreeMap::from([("appointments".into(), 3)]),
            indicators: vec![],
            counts: Counts::default(),
            quarantine_by_check: BTreeMap::new(),
            warnings: vec![],
            stage_seconds: BTreeMap::new(),
            compare_work_seconds: None,
            peak_memory_bytes: Some(1),
            definitions: Some(Definitions {
                pipeline: "[pipeline]\n".into(),
                indicators: BTreeMap::from([("demand/dna_rate.sql".into(), "SELECT 1".into())]),
                views: BTreeMap::new(),
            }),
        }
    }

    #[test]
    fn a_manifest_reads_back_and_another_schema_is_named() {
        let m = manifest();
        assert_eq!(Manifest::parse("run.json", &m.to_json()).unwrap(), m);
        assert_eq!(m.duration_seconds(), Some(90.5));
        let old = m
            .to_json()
            .replace("\"schema_version\": 1", "\"schema_version\": 0");
        let e = Manifest::parse("run.json", &old).unwrap_err().to_string();
        assert_eq!(
            e,
            "run manifest run.json has schema version 0; this peerbench reads version 1: use the peerbench release that wrote it (0.1.0)"
        );
        assert_eq!(
            Manifest::parse("run.json", "{").unwrap_err().to_string(),
            "run manifest run.json cannot be read: EOF while parsing an object at line 1 column 1"
        );
    }

    #[test]
    fn the_recorded_definitions_and_outcome_survive_the_round_trip() {
        let mut m = manifest();
        m.outcome = Outcome::PublishedWithFailures;
        m.error = Some("an indicator failed".into());
        let back = Manifest::parse("run.json", &m.to_json()).unwrap();
        assert_eq!(back.definitions, m.definitions);
        assert_eq!(back.outcome, Outcome::PublishedWithFailures);
        assert_eq!(back, m);
        // A record from before runs kept their SQL reads back without it.
        let mut value: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        value.as_object_mut().unwrap().remove("definitions");
        let old = Manifest::parse("run.json", &value.to_string()).unwrap();
        assert_eq!(old.definitions, None);
    }

    #[test]
    fn a_manifest_without_a_schema_or_fields_is_refused_by_name() {
        let e = Manifest::parse("of run r1", "{}").unwrap_err();
        assert!(
            matches!(&e, ManifestError::Schema { found: 0, release, .. } if release == "unknown"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "run manifest of run r1 has schema version 0; this peerbench reads version 1: use the peerbench release that wrote it (unknown)"
        );
        let e = Manifest::parse("run.json", "{\"schema_version\": 1}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "run manifest run.json cannot be read: missing field `run_id`"
        );
    }

    #[test]
    fn the_runs_row_carries_the_manifest() {
        let m = manifest();
        let row = runs_row(&m);
        assert_eq!(row.schema(), runs_schema());
        let text = |i: usize| {
            row.column(i)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .value(0)
                .to_string()
        };
        assert_eq!(
            (0..7).map(text).collect::<Vec<_>>(),
            [
                "20261129T020000Z-42",
                "2026-11-29T02:00:00.000Z",
                "2026-11-29T02:01:30.500Z",
                "success",
                "c",
                "0.1.0",
                "1"
            ]
        );
        assert_eq!(Manifest::parse("runs", &text(7)).unwrap(), m);
    }
}
