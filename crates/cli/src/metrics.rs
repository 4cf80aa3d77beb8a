//! `--metrics FILE`: what the last `run` or `ingest` did, as a Prometheus
//! text file for node_exporter's textfile collector. The file is written
//! beside its final name and renamed over it, so the collector never reads
//! half of one.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The last success's time, kept from the previous file when a run fails.
const LAST_SUCCESS: &str = "peerbench_last_success_timestamp_seconds";

/// A metric's samples: their labels (beyond the common ones, written
/// `,name="value"`) and values.
type Samples = Vec<(String, f64)>;

/// A metric: name, help, samples.
type Family = (&'static str, &'static str, Samples);

/// One command's outcome, as metrics.
pub struct Metrics {
    pub command: &'static str,
    /// The pipeline file's name without its extension, e.g. `demo`.
    pub pipeline: String,
    pub exit_code: u8,
    /// When the command ended.
    pub ended: SystemTime,
    pub duration: Duration,
    /// Seconds per stage (the run's manifest's `stage_seconds`); filled in
    /// only when the command did its work (exit 0, or 3 for a run).
    pub stages: Vec<(String, f64)>,
    /// Per source: rows loaded and rows set aside.
    pub sources: Vec<(String, usize, usize)>,
    pub unclaimed_files: Option<usize>,
    /// Per indicator: practices outside the 99.8% limits (run only).
    pub outliers: BTreeMap<String, usize>,
}

impl Metrics {
    pub fn new(command: &'static str, pipeline: &Path, exit_code: u8, duration: Duration) -> Self {
        Metrics {
            command,
            pipeline: pipeline
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            exit_code,
            ended: SystemTime::now(),
            duration,
            stages: Vec::new(),
            sources: Vec::new(),
            unclaimed_files: None,
            outliers: BTreeMap::new(),
        }
    }

    pub fn ingest(&mut self, summary: &peerbench_pipeline::IngestReport) {
        self.sources = summary
            .sources
            .iter()
            .map(|s| (s.table.clone(), s.rows_loaded(), s.rows_quarantined()))
            .collect();
        self.unclaimed_files = Some(summary.unclaimed.len());
    }

    /// The file's text. `previous_success` is the last success's time from
    /// the file this one replaces, kept when this command failed.
    pub fn render(&self, previous_success: Option<f64>) -> String {
        let ended = seconds(self.ended);
        let base = format!(
            "pipeline=\"{}\",command=\"{}\"",
            escape(&self.pipeline),
            self.command
        );
        let mut families: Vec<Family> = Vec::new();
        let mut family = |name, help, samples| families.push((name, help, samples));
        let one = |v: f64| vec![(String::new(), v)];
        // Only a full success moves the last success: a run that published
        // without failed indicators (3) should still alert, and one with
        // nothing new (99) published nothing (the last success stands).
        let success = if self.exit_code == 0 {
            Some(ended)
        } else {
            previous_success
        };
        family(
            LAST_SUCCESS,
            "When the command last succeeded, exit code 0 (Unix time; 0 if it never has). Any other outcome (failed, published with failed indicators, nothing new, lock held) keeps the previous value.",
            one(success.unwrap_or(0.0)),
        );
        family(
            "peerbench_last_run_timestamp_seconds",
            "When the command last ended, successfully or not (Unix time).",
            one(ended),
        );
        family(
            "peerbench_last_run_exit_code",
            "The last run's exit code: 0 success, 1 failed, 2 usage or pipeline file error, 3 published without failed indicators, 75 another run held the warehouse, 99 nothing new since the last publication.",
            one(f64::from(self.exit_code)),
        );
        family(
            "peerbench_last_run_duration_seconds",
            "How long the last run took, start to end.",
            one(self.duration.as_secs_f64()),
        );
        if self.did_its_work() {
            self.last_run(&mut family);
        }
        let mut out = String::new();
        for (name, help, samples) in families {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{{{base}{labels}}} {}", number(value));
            }
        }
        out
    }

    /// Whether the command ran to the end and its stages, rows and outliers
    /// describe what is published: success, or a run published without its
    /// failed indicators (3). Not a failure, nor 75 or 99 (nothing was
    /// computed).
    fn did_its_work(&self) -> bool {
        self.exit_code == 0 || (self.command == "run" && self.exit_code == 3)
    }

    /// What only a run that did its work can say.
    fn last_run(&self, family: &mut impl FnMut(&'static str, &'static str, Samples)) {
        let one = |v: f64| vec![(String::new(), v)];
        let labelled = |label: &str, rows: Vec<(&str, f64)>| -> Vec<(String, f64)> {
            rows.into_iter()
                .map(|(v, n)| (format!(",{label}=\"{}\"", escape(v)), n))
                .collect()
        };
        family(
            "peerbench_stage_duration_seconds",
            "Wall time of each stage of the last run that completed (exit 0, or 3 for a run).",
            labelled(
                "stage",
                self.stages.iter().map(|(s, d)| (s.as_str(), *d)).collect(),
            ),
        );
        family(
            "peerbench_rows_loaded",
            "Rows of each source's current files in its table after the last run that completed (a source whose files were unchanged counts its last load).",
            labelled(
                "source",
                self.sources
                    .iter()
                    .map(|(s, n, _)| (s.as_str(), *n as f64))
                    .collect(),
            ),
        );
        family(
            "peerbench_rows_quarantined",
            "Rows (or whole files) of each source set aside by the checks of the last run that completed.",
            labelled(
                "source",
                self.sources
                    .iter()
                    .map(|(s, _, q)| (s.as_str(), *q as f64))
                    .collect(),
            ),
        );
        if let Some(n) = self.unclaimed_files {
            family(
                "peerbench_unclaimed_files",
                "Files in the landing folders that no source reads, at the last run that completed.",
                one(n as f64),
            );
        }
        if self.command == "run" {
            family(
                "peerbench_outliers",
                "Practices outside each indicator's 99.8% funnel limits in its latest period (primary peer group), at the last run that published.",
                labelled(
                    "indicator",
                    self.outliers
                        .iter()
                        .map(|(i, n)| (i.as_str(), *n as f64))
                        .collect(),
                ),
            );
        }
    }

    /// Writes the file: to a hidden temporary file in the same folder (the
    /// collector reads only `*.prom`), then renamed over `path`.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let previous = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| last_success(&text));
        let text = self.render(previous);
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("--metrics {}: not a file name", path.display()))?;
        let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let written = std::fs::File::create(&temporary)
            .and_then(|mut f| {
                std::io::Write::write_all(&mut f, text.as_bytes())?;
                f.sync_all()
            })
            .and_then(|()| std::fs::rename(&temporary, path));
        written.map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            format!("cannot write the metrics file {}: {e}", path.display())
        })
    }
}

/// The last success's time in an earlier metrics file.
fn last_success(text: &str) -> Option<f64> {
    text.lines()
        .find(|l| {
            l.strip_prefix(LAST_SUCCESS)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .filter(|v: &f64| v.is_finite() && *v > 0.0)
}

fn seconds(t: SystemTime) -> f64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    // Milliseconds are plenty, and keep the numbers short.
    (d.as_millis() as f64) / 1000.0
}

/// A sample value as the text format writes it.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// A label value: backslash, double quote and line feed escaped.
fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(previous: Option<f64>) -> String {
        let mut m = Metrics::new("run", Path::new("p/demo.toml"), 1, Duration::from_secs(2));
        m.ended = UNIX_EPOCH + Duration::from_millis(1_700_000_100_250);
        m.render(previous)
    }

    #[test]
    fn a_failed_run_keeps_the_last_success_and_says_nothing_else() {
        let text = failed(Some(1_700_000_000.5));
        assert!(text.contains(
            "peerbench_last_success_timestamp_seconds{pipeline=\"demo\",command=\"run\"} 1700000000.5\n"
        ));
        assert!(text.contains(
            "peerbench_last_run_timestamp_seconds{pipeline=\"demo\",command=\"run\"} 1700000100.25\n"
        ));
        assert!(
            text.contains("peerbench_last_run_exit_code{pipeline=\"demo\",command=\"run\"} 1\n")
        );
        assert!(!text.contains("peerbench_rows_loaded"));
        assert_eq!(last_success(&text), Some(1_700_000_000.5));
        // Never succeeded: 0, so an alert on its age fires.
        assert_eq!(last_success(&failed(None)), None);
        assert!(failed(None).contains(
            "peerbench_last_success_timestamp_seconds{pipeline=\"demo\",command=\"run\"} 0\n"
        ));
    }

    #[test]
    fn published_with_failures_reports_the_run_but_not_a_success() {
        let mut m = Metrics::new("run", Path::new("demo.toml"), 3, Duration::from_secs(2));
        m.stages = vec![("ingest".into(), 1.5)];
        let text = m.render(Some(1_700_000_000.5));
        assert_eq!(last_success(&text), Some(1_700_000_000.5));
        assert!(text.contains(
            "peerbench_stage_duration_seconds{pipeline=\"demo\",command=\"run\",stage=\"ingest\"} 1.5\n"
        ));
        // Nothing new (99): no stages, the last success stands.
        let mut m = Metrics::new("run", Path::new("demo.toml"), 99, Duration::from_secs(1));
        m.stages = vec![("ingest".into(), 1.5)];
        let text = m.render(Some(1_700_000_000.5));
        assert_eq!(last_success(&text), Some(1_700_000_000.5));
        assert!(!text.contains("peerbench_stage_duration_seconds{"));
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
        let mut m = Metrics::new("run", Path::new("x.toml"), 0, Duration::ZERO);
        m.outliers.insert("q\"x".into(), 2);
        assert!(m.render(None).contains(r#"indicator="q\"x"} 2"#));
    }
}
