//! End-to-end tests: the real `peerbench` binary on real files, as a user runs it.
//! One test binary for all of them keeps link time down (DataFusion is large).

mod demo;
mod errors;
mod faults;
mod ground_truth;
mod indicators;
mod synth;

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
    Command::new(env!("CARGO_BIN_EXE_peerbench"))
        .args(args)
        .current_dir(repo())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run peerbench")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Reads a CSV into header + rows of strings.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut rdr =
        csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = rdr.headers().unwrap().iter().map(str::to_string).collect();
    let rows = rdr
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}
