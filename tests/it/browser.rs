//! The published report in a real browser: Debian's Chromium, driven by
//! playwright-core, opens the board page, the catalogue, an indicator page and
//! two practice pages; no console errors, nothing fetched from outside the
//! report, every chart drawn, and no serious or critical axe-core (WCAG 2.2
//! AA) violations; practice pages lead with one verdict per indicator.
//! Screenshots (among them `practice-verdict.png`, the practice page's "In
//! brief" and "Where you stand", copied to `docs/img/`) and an A4 print PDF
//! are kept as artefacts in `out/test-artefacts/browser/`.

use std::process::Command;

use crate::demo::demo;
use crate::repo;

#[test]
fn reports_render_in_chromium_and_pass_the_accessibility_check() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "Chromium not found at {chromium}: install it (`apt-get install chromium`, as .ci/run does) or set CHROMIUM"
    );
    assert!(
        repo()
            .join("tests/browser/node_modules/playwright-core")
            .exists(),
        "the browser test's packages are missing: run scripts/test (it runs `npm ci --prefix tests/browser`)"
    );
    let artefacts = repo().join("out/test-artefacts/browser");
    let o = Command::new("node")
        .arg(repo().join("tests/browser/check.mjs"))
        .arg(&demo().out)
        .arg(&artefacts)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    println!("{text}");
    assert!(o.status.success(), "browser check failed:\n{text}");
    // The screenshots a person can look at after CI.
    for shot in ["index.png", "indicators.png", "practice-verdict.png"] {
        let meta = std::fs::metadata(artefacts.join(shot)).expect("screenshot written");
        assert!(meta.len() > 10_000, "{shot} is suspiciously small");
    }
}
