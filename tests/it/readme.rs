//! The README's crate graph is drawn from `cargo metadata`, not by hand: a
//! dependency added or dropped fails here until the README says so.

use std::collections::{BTreeMap, BTreeSet};

/// Each workspace crate (short name) and the workspace crates it depends on
/// directly (normal dependencies), and whether it links DataFusion.
fn graph() -> (BTreeMap<String, BTreeSet<String>>, BTreeSet<String>) {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(crate::repo())
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let short = |name: &str| name.trim_start_matches("peerbench-").to_string();
    let mut edges = BTreeMap::new();
    let mut direct_df = BTreeSet::new();
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let name = if name == "peerbench" {
            "cli".to_string()
        } else {
            short(name)
        };
        let mut deps = BTreeSet::new();
        for d in p["dependencies"].as_array().unwrap() {
            if !d["kind"].is_null() {
                continue; // dev and build dependencies
            }
            let dep = d["name"].as_str().unwrap();
            if dep.starts_with("peerbench-") {
                deps.insert(short(dep));
            }
            if dep == "datafusion" || dep == "deltalake" {
                direct_df.insert(name.clone());
            }
        }
        edges.insert(name, deps);
    }
    let mut links = direct_df;
    loop {
        let more: BTreeSet<String> = edges
            .iter()
            .filter(|(c, deps)| !links.contains(*c) && deps.iter().any(|d| links.contains(d)))
            .map(|(c, _)| c.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        links.extend(more);
    }
    (edges, links)
}

#[test]
fn the_readme_crate_graph_is_cargo_metadatas() {
    let (edges, links) = graph();
    let mut expected = String::from("```text\n");
    for (c, deps) in &edges {
        if !deps.is_empty() {
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            expected.push_str(&format!("{c:<11} → {}\n", deps.join(", ")));
        }
    }
    let (with, without): (Vec<&String>, Vec<&String>) =
        edges.keys().partition(|c| links.contains(*c));
    let names = |v: Vec<&String>| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    expected.push_str(&format!("link DataFusion: {}\n", names(with)));
    expected.push_str(&format!("build without it: {}\n```\n", names(without)));
    let readme = std::fs::read_to_string(crate::repo().join("README.md")).unwrap();
    let start = "<!-- crate graph: checked against cargo metadata by tests/it/readme.rs -->\n";
    let block = readme
        .split_once(start)
        .and_then(|(_, rest)| rest.split_once("<!-- end of crate graph -->"))
        .map(|(block, _)| block)
        .unwrap_or_else(|| panic!("README.md has no {start:?} block"));
    assert_eq!(
        block, expected,
        "README.md's crate graph differs from cargo metadata; put this between its markers:\n{expected}"
    );
}
