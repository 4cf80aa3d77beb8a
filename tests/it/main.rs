//! End-to-end tests: the real `peerbench` binary on real files, as a user runs it.
//! One test binary for all of them keeps link time down (DataFusion is large).

#[cfg(feature = "ballista")]
mod ballista;
mod browser;
mod demo;
mod errors;
mod faults;
mod ground_truth;
mod indicators;
mod integrity;
mod limits;
mod loads;
mod object_store;
mod observability;
mod operations;
mod readme;
mod synth;
mod transcripts;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (tests run from the cli crate's folder).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

pub fn peerbench(args: &[&str]) -> Output {
    peerbench_in(&repo(), args)
}

/// The binary started from `folder`, as a scheduler with another working
/// directory would start it.
pub fn peerbench_in(folder: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_peerbench"))
        .args(args)
        .current_dir(folder)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run peerbench")
}

/// Starts the real binary with `args`, lets it run for `after`, then kills
/// it with SIGKILL (no chance to clean up), as a crash or an operator would.
pub fn kill_after(args: &[&str], after: std::time::Duration) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_peerbench"))
        .args(args)
        .current_dir(repo())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start peerbench");
    std::thread::sleep(after);
    let _ = child.kill();
    let _ = child.wait();
}

/// A run or load stopped at its time limit (`what` is "run" or "load",
/// `limit` as given): exit 1, the error line last, and exit 1 in the
/// metrics file.
pub fn assert_stopped_at_the_limit(stopped: &Output, what: &str, limit: &str, metrics: &Path) {
    assert_eq!(stopped.status.code(), Some(1), "{}", stderr(stopped));
    assert_eq!(
        stderr(stopped).lines().last(),
        Some(
            format!(
                "Error: the {what} did not finish within {limit} (run_timeout under [limits], or --run-timeout) and was stopped; the last publication stands, and the next run takes over its lock. Run with -v to see the stage it was in"
            )
            .as_str()
        )
    );
    assert!(
        std::fs::read_to_string(metrics)
            .unwrap()
            .lines()
            .any(|l| l.starts_with("peerbench_last_run_exit_code{") && l.ends_with(" 1")),
        "the metrics file records exit 1"
    );
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Reads a CSV into header + rows of strings.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = read_text(path);
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let header = rdr.headers().unwrap().iter().map(str::to_string).collect();
    let rows = rdr
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// A published text file, decompressed if it is gzipped (the results table
/// is `data/indicator_results.csv.gz`).
pub fn read_text(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "gz") {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(bytes.as_slice()),
            &mut text,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text
    } else {
        String::from_utf8(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// A pipeline file loading a generated federation at `data` with every
/// built-in source, the repository's indicators and views, and one peer group.
fn pipeline(data: &std::path::Path) -> String {
    let r = repo();
    let mut text = format!(
        "[pipeline]\nname = \"Ground truth\"\nwarehouse = \"w\"\noutput = \"o\"\nindicators = \"{r}/sql/indicators\"\nviews = \"{r}/sql/views\"\nregister = \"practices\"\n\n",
        r = r.display()
    );
    for (table, shape, files) in [
        ("practices", "practice_register", "practices.csv"),
        (
            "registered_patients",
            "registered_patients",
            "registered_patients/*.csv",
        ),
        ("appointments", "appointments", "appointments/*.csv"),
        ("prescribing", "prescribing", "prescribing/*.csv"),
        ("qof", "qof", "qof/*.csv"),
        ("patient_survey", "patient_survey", "survey/*.csv"),
        ("clinical_searches", "clinical_search", "searches/*.csv"),
        (
            "emergency_admissions",
            "emergency_admissions",
            "admissions/*.csv",
        ),
    ] {
        text.push_str(&format!(
            "[[source]]\ntable = \"{table}\"\nshape = \"{shape}\"\nfiles = \"{}/{files}\"\n",
            data.display()
        ));
        if table == "practices" {
            text.push_str("check_register = false\n");
        }
        text.push('\n');
    }
    text.push_str("[[peer_group]]\nname = \"all\"\nkind = \"all\"\n");
    text
}

/// Copies the committed sample federation into `dir/data`, to be altered.
pub fn copy_sample(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    let sample = repo().join("data-samples/federation");
    for entry in std::fs::read_dir(&sample).unwrap().flatten() {
        let from = entry.path();
        let to = data.join(entry.file_name());
        if from.is_dir() {
            std::fs::create_dir_all(&to).unwrap();
            for f in std::fs::read_dir(&from).unwrap().flatten() {
                std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
            }
        } else {
            std::fs::create_dir_all(&data).unwrap();
            std::fs::copy(&from, &to).unwrap();
        }
    }
    data
}

/// Generates a federation with `peerbench synth --preset federation` and the
/// extra options into `dir/data`, and writes a pipeline for it to `dir/p.toml`.
pub fn generated_federation(dir: &Path, synth_args: &[&str]) -> (PathBuf, PathBuf) {
    let data = dir.join("data");
    let mut args = vec![
        "synth",
        "--preset",
        "federation",
        "--out",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(synth_args);
    let o = peerbench(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let p = dir.join("p.toml");
    std::fs::write(&p, pipeline(&data)).unwrap();
    (data, p)
}

/// Every file under `dir`, by its name there, with its bytes.
pub fn files_under(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Every file of a publication but its run record (which differs by run:
/// its id, times, memory), by its name inside it, with its bytes.
pub fn publication_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = files_under(dir);
    files.remove("run.json");
    files
}
