//! What a run says on stderr while it works: log lines as text (the
//! default) or one JSON object per line (`--log-format json`), progress
//! bars when a person is watching, and the closing `Error:` line.
//!
//! The library crates only emit `tracing` events and spans: the pipeline
//! opens a `run{run_id, command}` span around a run and a `stage{stage}`
//! span around each stage, and reports where its long loops have got to
//! with TRACE events of target [`PROGRESS`] (fields `bar`, `done`, `total`,
//! and a message saying what is being done). This module turns those into
//! lines and bars.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// The target of the libraries' progress events (never logged).
pub const PROGRESS: &str = "peerbench_progress";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// What the closing line and the end of a command need from the logging set up.
struct State {
    format: LogFormat,
    /// The `run_id` of the latest `run` span: the closing error line, and
    /// events from tasks that do not inherit the span (a lock heartbeat),
    /// carry it too.
    run_id: Arc<Mutex<Option<String>>>,
    bars: Option<Arc<Bars>>,
}

static STATE: OnceLock<State> = OnceLock::new();

/// Sets up logging on stderr. `verbose` raises peerbench's own logs (-v
/// info, -vv debug); RUST_LOG overrides. Progress bars are drawn only in
/// text mode and only when stderr is a terminal.
pub fn init(verbose: u8, format: LogFormat) {
    let terminal = std::io::stderr().is_terminal();
    let run_id = Arc::new(Mutex::new(None));
    let bars = (format == LogFormat::Text && terminal).then(|| Arc::new(Bars::new()));
    // One filter for every layer (not a filter per layer: with those, a
    // dependency asking the `log` crate whether a level is enabled makes
    // tracing drop the next event, tokio-rs/tracing#2519).
    let filter = Select {
        env: log_filter(verbose),
        our_spans: format == LogFormat::Json,
        progress: bars.is_some(),
    };
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            // The text lines stay as they always were: no span context
            // (the run and stage spans are for the JSON lines), colour only
            // on a terminal, so cron mail and CI logs carry no escape codes.
            let text = tracing_subscriber::fmt::layer()
                .with_writer(StderrLines {
                    bars: bars.as_ref().map(|b| b.multi.clone()),
                })
                .with_target(false)
                .with_ansi(terminal && !no_color);
            registry
                .with(text)
                .with(bars.clone().map(ProgressLayer))
                .init();
        }
        LogFormat::Json => {
            let json = JsonLayer {
                run_id: Arc::clone(&run_id),
            };
            registry.with(json).init();
        }
    }
    let _ = STATE.set(State {
        format,
        run_id,
        bars,
    });
}

/// peerbench's own spans (`run`, `stage`, `source`).
fn our_span(meta: &Metadata<'_>) -> bool {
    meta.is_span() && meta.target().starts_with("peerbench")
}

/// What is recorded at all: what RUST_LOG or -v asks for, less progress
/// events (never logged) and peerbench's spans (which the text lines do not
/// show); plus those spans for the JSON lines, whatever the level, so that
/// every line carries its run id and stage; plus progress events when bars
/// are drawn.
struct Select {
    env: EnvFilter,
    our_spans: bool,
    progress: bool,
}

impl Select {
    /// Some(answer) where it overrides RUST_LOG.
    fn decide(&self, meta: &Metadata<'_>) -> Option<bool> {
        if meta.target() == PROGRESS {
            Some(self.progress)
        } else if our_span(meta) {
            Some(self.our_spans)
        } else {
            None
        }
    }
}

impl<S: Subscriber> Layer<S> for Select {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        match self.decide(meta) {
            Some(true) => Interest::always(),
            Some(false) => Interest::never(),
            None => Layer::<S>::register_callsite(&self.env, meta),
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.decide(meta)
            .unwrap_or_else(|| Layer::<S>::enabled(&self.env, meta, ctx))
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        if self.progress {
            return Some(LevelFilter::TRACE);
        }
        let env = Layer::<S>::max_level_hint(&self.env);
        if self.our_spans {
            // The spans are at INFO.
            env.map(|l| l.max(LevelFilter::INFO))
        } else {
            env
        }
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        Layer::<S>::on_new_span(&self.env, attrs, id, ctx)
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        Layer::<S>::on_record(&self.env, id, values, ctx)
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        Layer::<S>::on_enter(&self.env, id, ctx)
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        Layer::<S>::on_exit(&self.env, id, ctx)
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        Layer::<S>::on_close(&self.env, id, ctx)
    }
}

fn log_filter(verbose: u8) -> EnvFilter {
    // -v and -vv raise peerbench's own logs; the engines it uses stay at
    // warnings unless RUST_LOG asks for more.
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let ours = [
        "peerbench",
        "peerbench_pipeline",
        "peerbench_ingest",
        "peerbench_warehouse",
        "peerbench_indicators",
        "peerbench_compare",
        "peerbench_report",
        "peerbench_synth",
    ];
    let directives = std::iter::once("warn".to_string())
        .chain(ours.iter().map(|c| format!("{c}={level}")))
        .collect::<Vec<_>>()
        .join(",");
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives))
}

/// Clears any progress bars still drawn, before the command prints its
/// summary or its error.
pub fn finish_progress() {
    if let Some(bars) = STATE.get().and_then(|s| s.bars.as_ref()) {
        bars.clear();
    }
}

/// The closing line of a failed command: `Error: …` in text mode, a JSON
/// object (level ERROR, with the exit code and the run id) in JSON mode.
pub fn error_line(message: &str, exit_code: u8) {
    closing_line("ERROR", "Error", message, exit_code);
}

/// The closing warning of a command that did its work but not all of it
/// (exit 3: published without failed indicators), as `error_line`.
pub fn warning_line(message: &str, exit_code: u8) {
    closing_line("WARN", "Warning", message, exit_code);
}

fn closing_line(level: &str, prefix: &str, message: &str, exit_code: u8) {
    finish_progress();
    let Some(state) = STATE.get().filter(|s| s.format == LogFormat::Json) else {
        eprintln!("{prefix}: {message}");
        return;
    };
    let mut line = vec![
        ("timestamp", Value::String(timestamp())),
        ("level", Value::from(level)),
        ("message", Value::from(message)),
    ];
    if let Some(id) = state.run_id.lock().ok().and_then(|r| r.clone()) {
        line.push(("run_id", Value::String(id)));
    }
    line.push(("exit_code", Value::from(exit_code)));
    line.push(("target", Value::from("peerbench")));
    write_json_line(&line);
}

fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Writes one JSON object, its keys in the order given, as one line.
fn write_json_line(fields: &[(&str, Value)]) {
    let mut line = String::from("{");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&Value::from(*key).to_string());
        line.push(':');
        line.push_str(&value.to_string());
    }
    line.push_str("}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// An ordered set of fields: a later value for a name replaces the earlier.
#[derive(Default, Clone)]
struct Fields(Vec<(&'static str, Value)>);

impl Fields {
    fn set(&mut self, name: &'static str, value: Value) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = value,
            None => self.0.push((name, value)),
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity: those become null.
        self.set(field.name(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field.name(), Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.set(field.name(), Value::String(format!("{value:?}")));
    }
}

/// One JSON object per event: timestamp, level, message, then the fields
/// of the spans it is in (outermost first: `run_id`, `command`, `stage`,
/// …), then its own fields, then its target.
struct JsonLayer {
    run_id: Arc<Mutex<Option<String>>>,
}

impl<S> Layer<S> for JsonLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if attrs.metadata().name() == "run"
            && let Some(Value::String(run_id)) = fields.get("run_id")
            && let Ok(mut latest) = self.run_id.lock()
        {
            *latest = Some(run_id.clone());
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut line = Fields::default();
        line.set("timestamp", Value::String(timestamp()));
        line.set("level", Value::from(meta.level().as_str()));
        line.set("message", Value::from(""));
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<Fields>() {
                    for (name, value) in &fields.0 {
                        line.set(name, value.clone());
                    }
                }
            }
        }
        if line.get("run_id").is_none()
            && let Some(run_id) = self.run_id.lock().ok().and_then(|r| r.clone())
        {
            line.set("run_id", Value::String(run_id));
        }
        event.record(&mut line);
        line.set("target", Value::from(meta.target()));
        write_json_line(&line.0);
    }
}

/// Stderr for the text lines: each line is written whole, with the
/// progress bars (if any) lifted out of the way while it is.
#[derive(Clone)]
struct StderrLines {
    bars: Option<MultiProgress>,
}

impl<'a> MakeWriter<'a> for StderrLines {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            buf: Vec::new(),
            bars: self.bars.clone(),
            discard: false,
        }
    }

    /// Progress events (recorded only while bars are drawn) are for the
    /// bars, not the log.
    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LineWriter {
        let mut writer = self.make_writer();
        writer.discard = meta.target() == PROGRESS;
        writer
    }
}

struct LineWriter {
    buf: Vec<u8>,
    bars: Option<MultiProgress>,
    discard: bool,
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() || self.discard {
            return;
        }
        let write = || {
            let _ = std::io::stderr().lock().write_all(&self.buf);
        };
        match &self.bars {
            Some(bars) => bars.suspend(write),
            None => write(),
        }
    }
}

/// The bars being drawn, by name.
struct Bars {
    multi: MultiProgress,
    open: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn new() -> Bars {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            open: Mutex::new(HashMap::new()),
        }
    }

    fn update(&self, bar: String, done: u64, total: u64, what: String) {
        let Ok(mut open) = self.open.lock() else {
            return;
        };
        if done >= total {
            if let Some(pb) = open.remove(&bar) {
                pb.finish_and_clear();
                self.multi.remove(&pb);
            }
            return;
        }
        let pb = open.entry(bar.clone()).or_insert_with(|| {
            let pb = self.multi.add(ProgressBar::new(total));
            pb.set_style(
                ProgressStyle::with_template(
                    "{prefix:30} [{bar:30}] {pos}/{len} {elapsed:>4} {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            pb.set_prefix(bar);
            pb.enable_steady_tick(Duration::from_millis(250));
            pb
        });
        pb.set_length(total);
        pb.set_position(done);
        pb.set_message(what);
    }

    fn clear(&self) {
        if let Ok(mut open) = self.open.lock() {
            for (_, pb) in open.drain() {
                pb.finish_and_clear();
                self.multi.remove(&pb);
            }
        }
        let _ = self.multi.clear();
    }
}

/// Draws the libraries' progress events as bars.
struct ProgressLayer(Arc<Bars>);

impl<S: Subscriber> Layer<S> for ProgressLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != PROGRESS {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let text = |name: &str| match fields.get(name) {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        let number = |name: &str| fields.get(name).and_then(Value::as_u64);
        if let (Some(done), Some(total)) = (number("done"), number("total")) {
            self.0.update(text("bar"), done, total, text("message"));
        }
    }
}
