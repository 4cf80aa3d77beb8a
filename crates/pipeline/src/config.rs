//! The pipeline file (TOML). Paths in it are relative to the file's folder,
//! so a pipeline runs the same from any working directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use peerbench_compare::{DescriptorWeight, PeerGroup, PeerGroupKind};
use peerbench_ingest::{BUILTIN_SHAPES, ColumnSpec, Shape, Source, builtin};
use peerbench_report::{Disclosure, DisclosurePolicy, VerdictLead};
use peerbench_stats::{PhiEstimator, SpcOptions};
use serde::Deserialize;

use crate::Pipeline;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read pipeline file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    pipeline: Section,
    #[serde(default, rename = "source")]
    sources: Vec<SourceEntry>,
    #[serde(default, rename = "peer_group")]
    peer_groups: Vec<PeerGroupEntry>,
    #[serde(default)]
    statistics: StatisticsEntry,
    #[serde(default)]
    disclosure: DisclosureEntry,
    #[serde(default)]
    reports: ReportsEntry,
    #[serde(default)]
    limits: LimitsEntry,
}

/// How the pages present the results (`[reports]`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportsEntry {
    /// Which comparison leads each indicator's verdict: "funnel" (default)
    /// or "interval".
    verdict: Option<String>,
}

/// What the indicators' SQL may cost; defaults in `peerbench_indicators::Limits`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsEntry {
    /// Per indicator, e.g. "10m" or "90s".
    #[serde(default, deserialize_with = "duration")]
    indicator_timeout: Option<Duration>,
    /// DataFusion's memory pool, e.g. "2GB" or "512MB".
    #[serde(default, deserialize_with = "size")]
    memory_limit: Option<u64>,
    /// Where sorts and aggregates spill beyond their share of the memory.
    spill_dir: Option<String>,
    /// The whole run, e.g. "6h".
    #[serde(default, deserialize_with = "duration")]
    run_timeout: Option<Duration>,
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    peerbench_indicators::parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let text = String::deserialize(d)?;
    peerbench_indicators::parse_size(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Disclosure control per output: "standard" (methods §9) or "exact".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DisclosureEntry {
    board: Option<String>,
    practice_pages: Option<String>,
    downloads: Option<String>,
}

/// Optional statistical choices; the defaults follow the methods reference
/// and, for SPC, NHSRplotthedots' defaults (docs/methods.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatisticsEntry {
    /// SPC limits from the first N points of each series (0: all points).
    #[serde(default = "default_spc_baseline")]
    spc_baseline: usize,
    /// Count points beyond 3σ towards two-of-three (the Making Data Count
    /// tool since November 2023); NHSRplotthedots does not.
    #[serde(default)]
    two_of_three_includes_beyond_limits: bool,
    /// Leave moving ranges above the upper range limit out of σ
    /// (NHSRplotthedots' `screen_outliers`, on by default there).
    #[serde(default = "yes")]
    screen_moving_ranges: bool,
    /// How funnels estimate φ: "consistent" (the default) or "winsorised"
    /// (FunnelPlotR's, which runs low; docs/methods.md).
    #[serde(default)]
    phi: Option<String>,
}

impl Default for StatisticsEntry {
    fn default() -> Self {
        let spc = SpcOptions::default();
        StatisticsEntry {
            spc_baseline: default_spc_baseline(),
            two_of_three_includes_beyond_limits: spc.two_of_three_includes_beyond_limits,
            screen_moving_ranges: spc.screen_moving_ranges,
            phi: None,
        }
    }
}

fn default_spc_baseline() -> usize {
    12
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    name: String,
    warehouse: String,
    /// Folders where extracts arrive: files in them no source reads are reported.
    #[serde(default)]
    landing: Vec<String>,
    /// File-name patterns in the landing folders that are not extracts.
    #[serde(default)]
    landing_ignore: Vec<String>,
    output: String,
    indicators: String,
    views: Option<String>,
    register: String,
    primary_peer_group: Option<String>,
    /// The table or view with numeric descriptors for similar-practice groups.
    descriptors: Option<String>,
    /// How long a run lock in an object store may go without a heartbeat
    /// before a run on another host takes it over, e.g. "10m".
    #[serde(default, deserialize_with = "duration")]
    lock_stale_after: Option<Duration>,
    /// How many earlier publications stay in `<output>.earlier/`.
    #[serde(default = "default_keep")]
    keep: usize,
    /// "publish_rest" (default) or "fail".
    on_indicator_error: Option<String>,
    /// Where the indicator SQL runs: "local" (default) or
    /// "ballista://host:port" (a Ballista scheduler; docs/scale.md).
    engine: Option<String>,
}

fn default_keep() -> usize {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceEntry {
    table: String,
    files: String,
    shape: Option<String>,
    columns: Option<Vec<ColumnSpec>>,
    #[serde(default)]
    at_most: Vec<(String, String)>,
    #[serde(default = "default_max_rejected")]
    max_rejected_pct: f64,
    #[serde(default = "default_warn_rejected")]
    warn_rejected_pct: f64,
    #[serde(default = "yes")]
    check_register: bool,
    /// How many lines a quoted field may run on before it is taken for an
    /// unbalanced quote.
    #[serde(default = "default_max_quoted_lines")]
    max_quoted_lines: usize,
}

fn default_max_quoted_lines() -> usize {
    peerbench_ingest::MAX_QUOTED_LINES
}

fn default_max_rejected() -> f64 {
    5.0
}

fn default_warn_rejected() -> f64 {
    1.0
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerGroupEntry {
    name: String,
    kind: String,
    #[serde(default = "default_min_practices")]
    min_practices: usize,
    #[serde(default = "default_min_practices_for_funnel")]
    min_practices_for_funnel: usize,
    /// For kind = "similar": how many neighbours, and descriptor weights.
    k: Option<usize>,
    descriptors: Option<BTreeMap<String, f64>>,
}

fn default_min_practices_for_funnel() -> usize {
    10
}

fn default_min_practices() -> usize {
    5
}

/// Removes `.` and `..` lexically, so messages show `out/demo`, not `pipelines/../out/demo`.
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

pub fn load(path: &Path) -> Result<Pipeline, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// A pipeline from its file's text, with paths resolved as if the text
/// were at `path` (`--as-of` reads the text a past run recorded).
pub fn parse(path: &Path, text: &str) -> Result<Pipeline, ConfigError> {
    let text = text.to_string();
    let file: File = toml::from_str(&text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_col(&text, s.start));
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().to_string(),
        }
    })?;
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let resolve = |p: &str| {
        normalize(&if Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            base_dir.join(p)
        })
    };

    let sources = sources_of(file.sources, &invalid)?;
    if !sources.iter().any(|s| s.table == file.pipeline.register) {
        return Err(invalid(format!(
            "register = {:?} but no [[source]] loads that table",
            file.pipeline.register
        )));
    }
    let peer_groups = peer_groups_of(file.peer_groups, &invalid)?;
    let primary = file
        .pipeline
        .primary_peer_group
        .unwrap_or_else(|| peer_groups[0].name.clone());
    if !peer_groups.iter().any(|g| g.name == primary) {
        return Err(invalid(format!(
            "primary_peer_group {primary:?} is not one of the [[peer_group]] names"
        )));
    }
    let disclosure = disclosure_of(&file.disclosure, &invalid)?;
    let verdict = match file.reports.verdict.as_deref() {
        None => VerdictLead::default(),
        Some(v) => VerdictLead::parse(v).ok_or_else(|| {
            invalid(format!(
                "[reports] verdict = {v:?}: use \"funnel\" (lead with the peer funnel, which allows for normal variation between practices) or \"interval\" (lead with the 95% interval against the benchmark, as Fingertips does)"
            ))
        })?,
    };
    let indicators_dir = resolve(&file.pipeline.indicators);
    if !indicators_dir.is_dir() {
        return Err(invalid(format!(
            "indicators folder {} does not exist",
            indicators_dir.display()
        )));
    }
    Ok(Pipeline {
        name: file.pipeline.name,
        file: path.to_path_buf(),
        // `s3://bucket/prefix` stays a URL; anything else is a folder.
        warehouse: if peerbench_warehouse::is_url(&file.pipeline.warehouse) {
            file.pipeline.warehouse.clone()
        } else {
            resolve(&file.pipeline.warehouse).display().to_string()
        },
        output: resolve(&file.pipeline.output),
        landing: peerbench_ingest::Landing {
            folders: file.pipeline.landing.iter().map(|f| resolve(f)).collect(),
            ignore: file.pipeline.landing_ignore.clone(),
        },
        indicators_dir,
        views_dir: file.pipeline.views.as_deref().map(resolve),
        register: file.pipeline.register,
        disclosure,
        verdict,
        descriptors: file
            .pipeline
            .descriptors
            .unwrap_or_else(|| "practice_descriptors".to_string()),
        spc: SpcOptions {
            baseline: (file.statistics.spc_baseline > 0).then_some(file.statistics.spc_baseline),
            two_of_three_includes_beyond_limits: file
                .statistics
                .two_of_three_includes_beyond_limits,
            screen_moving_ranges: file.statistics.screen_moving_ranges,
            ..SpcOptions::default()
        },
        phi: match file.statistics.phi.as_deref() {
            None | Some("consistent") => PhiEstimator::Consistent,
            Some("winsorised") => PhiEstimator::Winsorised,
            Some(other) => {
                return Err(invalid(format!(
                    "[statistics] phi = {other:?}: use \"consistent\" (the winsorised φ corrected to estimate the spread between practices; the default) or \"winsorised\" (FunnelPlotR's, whose limits are narrower than their level says)"
                )));
            }
        },
        primary_peer_group: primary,
        lock_stale_after: file
            .pipeline
            .lock_stale_after
            .unwrap_or(Duration::from_secs(600)),
        keep: file.pipeline.keep,
        lock_wait: Duration::ZERO,
        on_indicator_error: match file.pipeline.on_indicator_error.as_deref() {
            None | Some("publish_rest") => crate::OnIndicatorError::PublishRest,
            Some("fail") => crate::OnIndicatorError::Fail,
            Some(other) => {
                return Err(invalid(format!(
                    "on_indicator_error = {other:?}: use \"publish_rest\" (publish the other indicators and name the failed ones) or \"fail\" (publish nothing)"
                )));
            }
        },
        limits: limits_of(&file.limits, resolve),
        run_timeout: file
            .limits
            .run_timeout
            .unwrap_or(crate::DEFAULT_RUN_TIMEOUT),
        engine: match file.pipeline.engine.as_deref() {
            None => peerbench_indicators::Engine::Local,
            Some(text) => peerbench_indicators::Engine::parse(text).map_err(&invalid)?,
        },
        sources,
        peer_groups,
        base_dir,
    })
}

/// The `[[source]]` entries: each with a built-in shape or its own columns,
/// each table loaded by one source only.
fn sources_of(
    entries: Vec<SourceEntry>,
    invalid: &impl Fn(String) -> ConfigError,
) -> Result<Vec<Source>, ConfigError> {
    let mut sources = Vec::new();
    for s in entries {
        let shape = match (&s.shape, s.columns) {
            (Some(name), None) => {
                let mut shape = builtin(name).ok_or_else(|| {
                    invalid(format!(
                        "source {:?}: unknown shape {name:?} (built-in shapes: {})",
                        s.table,
                        BUILTIN_SHAPES.join(", ")
                    ))
                })?;
                shape.at_most.extend(s.at_most);
                shape
            }
            (None, Some(columns)) => Shape {
                columns,
                at_most: s.at_most,
            },
            _ => {
                return Err(invalid(format!(
                    "source {:?}: give either `shape` (one of {}) or `columns`, not both or neither",
                    s.table,
                    BUILTIN_SHAPES.join(", ")
                )));
            }
        };
        if sources.iter().any(|x: &Source| x.table == s.table) {
            return Err(invalid(format!("two sources load the table {:?}", s.table)));
        }
        sources.push(Source {
            table: s.table,
            shape,
            files: s.files,
            max_rejected_pct: s.max_rejected_pct,
            warn_rejected_pct: s.warn_rejected_pct.min(s.max_rejected_pct),
            check_register: s.check_register,
            max_quoted_lines: s.max_quoted_lines,
        });
    }
    Ok(sources)
}

/// The `[[peer_group]]` entries, uniquely named; "all" when there are none.
fn peer_groups_of(
    entries: Vec<PeerGroupEntry>,
    invalid: &impl Fn(String) -> ConfigError,
) -> Result<Vec<PeerGroup>, ConfigError> {
    let mut peer_groups = Vec::new();
    for g in entries {
        let kind = if g.kind == "similar" {
            let weights = g.descriptors.clone().filter(|d| !d.is_empty()).ok_or_else(|| {
                invalid(format!("peer group {:?}: kind \"similar\" needs descriptors = {{ name = weight, … }}", g.name))
            })?;
            if weights.values().any(|w| !(w.is_finite() && *w >= 0.0)) {
                return Err(invalid(format!(
                    "peer group {:?}: descriptor weights must be non-negative numbers",
                    g.name
                )));
            }
            PeerGroupKind::Similar {
                k: g.k.unwrap_or(10).max(1),
                weights: weights
                    .into_iter()
                    .map(|(name, weight)| DescriptorWeight { name, weight })
                    .collect(),
            }
        } else {
            if g.k.is_some() || g.descriptors.is_some() {
                return Err(invalid(format!(
                    "peer group {:?}: k and descriptors apply only to kind = \"similar\"",
                    g.name
                )));
            }
            PeerGroupKind::parse_structural(&g.kind).ok_or_else(|| {
                invalid(format!(
                    "peer group {:?}: unknown kind {:?} (use all, federation, pcn, icb or similar)",
                    g.name, g.kind
                ))
            })?
        };
        if peer_groups.iter().any(|p: &PeerGroup| p.name == g.name) {
            return Err(invalid(format!("two peer groups are named {:?}", g.name)));
        }
        peer_groups.push(PeerGroup {
            name: g.name,
            kind,
            min_practices: g.min_practices.max(2),
            min_practices_for_funnel: g.min_practices_for_funnel.max(3),
        });
    }
    if peer_groups.is_empty() {
        peer_groups.push(PeerGroup {
            name: "all".into(),
            kind: PeerGroupKind::All,
            min_practices: 5,
            min_practices_for_funnel: 10,
        });
    }
    Ok(peer_groups)
}

/// `[disclosure]`: "standard" or "exact" per output, the defaults where not
/// given.
fn disclosure_of(
    entry: &DisclosureEntry,
    invalid: &impl Fn(String) -> ConfigError,
) -> Result<DisclosurePolicy, ConfigError> {
    let defaults = DisclosurePolicy::default();
    let policy = |key: &str,
                  value: &Option<String>,
                  default: Disclosure|
     -> Result<Disclosure, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) => Disclosure::parse(v).ok_or_else(|| {
                invalid(format!(
                    "[disclosure] {key} = {v:?}: use \"standard\" or \"exact\""
                ))
            }),
        }
    };
    let disclosure = DisclosurePolicy {
        board: policy("board", &entry.board, defaults.board)?,
        practice_pages: policy(
            "practice_pages",
            &entry.practice_pages,
            defaults.practice_pages,
        )?,
        downloads: policy("downloads", &entry.downloads, defaults.downloads)?,
    };
    Ok(disclosure)
}

/// `[limits]`, with the defaults for what it leaves out.
fn limits_of(
    entry: &LimitsEntry,
    resolve: impl Fn(&str) -> PathBuf,
) -> peerbench_indicators::Limits {
    let defaults = peerbench_indicators::Limits::default();
    peerbench_indicators::Limits {
        indicator_timeout: entry
            .indicator_timeout
            .unwrap_or(defaults.indicator_timeout),
        memory_limit: entry.memory_limit.unwrap_or(defaults.memory_limit),
        spill_dir: entry.spill_dir.as_deref().map(resolve),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipeline file `dir/p.toml` with an indicators folder beside it.
    const MINIMAL: &str = "[pipeline]\nname = \"t\"\nwarehouse = \"w\"\noutput = \"out/t\"\nindicators = \"sql\"\nregister = \"practices\"\n\n[[source]]\ntable = \"practices\"\nshape = \"practice_register\"\nfiles = \"practices.csv\"\n";

    fn parsed(extra: &str) -> (tempfile::TempDir, Result<Pipeline, ConfigError>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sql")).unwrap();
        let path = dir.path().join("p.toml");
        let pipeline = parse(&path, &format!("{MINIMAL}{extra}"));
        (dir, pipeline)
    }

    /// The error's message with the temporary folder taken out.
    fn message(dir: &tempfile::TempDir, e: ConfigError) -> String {
        e.to_string()
            .replace(&format!("{}/", dir.path().display()), "")
    }

    #[test]
    fn paths_resolve_against_the_files_folder_and_defaults_apply() {
        let (dir, p) = parsed("");
        let p = p.unwrap();
        assert_eq!(p.output, dir.path().join("out/t"));
        assert_eq!(p.warehouse, dir.path().join("w").display().to_string());
        assert_eq!(p.indicators_dir, dir.path().join("sql"));
        assert_eq!(p.base_dir, dir.path());
        assert_eq!(
            p.peer_groups
                .iter()
                .map(|g| (g.name.as_str(), g.min_practices))
                .collect::<Vec<_>>(),
            [("all", 5)]
        );
        assert_eq!(p.primary_peer_group, "all");
        assert_eq!(p.keep, 1);
        assert_eq!(p.on_indicator_error, crate::OnIndicatorError::PublishRest);
        assert_eq!(p.lock_stale_after, Duration::from_secs(600));
        assert_eq!(p.limits, peerbench_indicators::Limits::default());
        assert_eq!(p.run_timeout, crate::DEFAULT_RUN_TIMEOUT);
        let (_dir, p) = parsed("\n[limits]\nrun_timeout = \"1h30m\"\n");
        assert_eq!(p.unwrap().run_timeout, Duration::from_secs(90 * 60));
        let (dir, p) = parsed("\n[limits]\nrun_timeout = \"soon\"\n");
        let e = message(&dir, p.err().unwrap());
        assert!(e.contains("\"soon\" is not a duration"), "{e}");
        let (_dir, p) = parsed("");
        let p = p.unwrap();
        assert_eq!(p.verdict, VerdictLead::Funnel);
        assert_eq!(p.phi, PhiEstimator::Consistent);
        let (_dir, p) = parsed("[reports]\nverdict = \"interval\"\n");
        assert_eq!(p.unwrap().verdict, VerdictLead::Interval);
        let (_dir, p) = parsed("\n[statistics]\nphi = \"winsorised\"\n");
        assert_eq!(p.unwrap().phi, PhiEstimator::Winsorised);
    }

    #[test]
    fn a_syntax_error_is_located_by_line_and_column() {
        let (dir, p) = parsed("\n[limits]\nmemory_limit = \"16 megs\"\n");
        assert_eq!(
            message(&dir, p.unwrap_err()),
            "p.toml:14:16: \"16 megs\" is not a size: write a number and a unit, e.g. \"512MB\" or \"2GB\""
        );
        let (dir, p) = parsed("colour = \"blue\"\n");
        let e = p.unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::Syntax {
                    line: 12,
                    column: 1,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            message(&dir, e).starts_with("p.toml:12:1: unknown field `colour`"),
            "unknown keys are refused"
        );
    }

    #[test]
    fn what_parses_but_cannot_be_run_is_named() {
        let cases = [
            (
                "[[source]]\ntable = \"x\"\nshape = \"nope\"\nfiles = \"x.csv\"\n",
                format!(
                    "p.toml: source \"x\": unknown shape \"nope\" (built-in shapes: {})",
                    BUILTIN_SHAPES.join(", ")
                ),
            ),
            (
                "[[source]]\ntable = \"practices\"\nshape = \"practice_register\"\nfiles = \"again.csv\"\n",
                "p.toml: two sources load the table \"practices\"".to_string(),
            ),
            (
                "[[peer_group]]\nname = \"pcn\"\nkind = \"pcn\"\nk = 3\n",
                "p.toml: peer group \"pcn\": k and descriptors apply only to kind = \"similar\""
                    .to_string(),
            ),
            (
                "[[peer_group]]\nname = \"g\"\nkind = \"county\"\n",
                "p.toml: peer group \"g\": unknown kind \"county\" (use all, federation, pcn, icb or similar)"
                    .to_string(),
            ),
            (
                "[statistics]\nphi = \"raw\"\n",
                "p.toml: [statistics] phi = \"raw\": use \"consistent\" (the winsorised φ corrected to estimate the spread between practices; the default) or \"winsorised\" (FunnelPlotR's, whose limits are narrower than their level says)".to_string(),
            ),
            (
                "[disclosure]\nboard = \"loose\"\n",
                "p.toml: [disclosure] board = \"loose\": use \"standard\" or \"exact\"".to_string(),
            ),
            (
                "[reports]\nverdict = \"caterpillar\"\n",
                "p.toml: [reports] verdict = \"caterpillar\": use \"funnel\" (lead with the peer funnel, which allows for normal variation between practices) or \"interval\" (lead with the 95% interval against the benchmark, as Fingertips does)".to_string(),
            ),
        ];
        for (extra, expected) in cases {
            let (dir, p) = parsed(extra);
            assert_eq!(message(&dir, p.unwrap_err()), expected, "{extra}");
        }
        let (dir, p) = parsed("");
        drop(p);
        let text = MINIMAL.replace("register = \"practices\"", "register = \"gp\"");
        let e = parse(&dir.path().join("p.toml"), &text).unwrap_err();
        assert_eq!(
            message(&dir, e),
            "p.toml: register = \"gp\" but no [[source]] loads that table"
        );
    }

    #[test]
    fn the_engine_is_local_unless_the_file_names_a_cluster() {
        let (dir, p) = parsed("");
        assert_eq!(p.unwrap().engine, peerbench_indicators::Engine::Local);
        let with = |engine: &str| {
            let text = MINIMAL.replace(
                "register = \"practices\"",
                &format!("register = \"practices\"\nengine = \"{engine}\""),
            );
            parse(&dir.path().join("p.toml"), &text)
        };
        assert_eq!(
            with("ballista://scheduler.internal:50050").unwrap().engine,
            peerbench_indicators::Engine::Ballista {
                host: "scheduler.internal".into(),
                port: 50050
            }
        );
        assert_eq!(
            message(&dir, with("spark://x:7077").unwrap_err()),
            "p.toml: engine \"spark://x:7077\": use \"local\" (DataFusion in this process, the default) or \"ballista://host:port\" (an Apache DataFusion Ballista scheduler)"
        );
    }

    #[test]
    fn a_missing_file_says_which() {
        let e = load(Path::new("/nonexistent/p.toml")).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "cannot read pipeline file /nonexistent/p.toml: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn normalize_removes_dots_lexically() {
        assert_eq!(
            normalize(Path::new("pipelines/../out/./demo")),
            Path::new("out/demo")
        );
        assert_eq!(normalize(Path::new("../x")), Path::new("../x"));
        assert_eq!(normalize(Path::new("./")), Path::new("."));
    }
}
