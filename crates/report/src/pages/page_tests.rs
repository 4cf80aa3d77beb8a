//! Snapshots of each kind of page, rendered from a small fixed federation
//! built here (six practices, two indicators, fourteen months, no
//! DataFusion): a changed word or line on a page is a reviewed snapshot
//! diff. The fixture carries what the demo lacks: text that needs escaping,
//! a small count under disclosure control, a failed indicator, a draft,
//! unclaimed files, a resubmission and a sudden change.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use peerbench_catalogue::{Domain, Indicator, IndicatorRow};
use peerbench_compare::{
    CompareOptions, PeerGroup, PeerGroupKind, PracticeInfo, ResolvedPeerGroup, ResultRow,
    compare_indicator, what_changed,
};

use super::{Site, catalogue_page};
use crate::{
    Disclosure, DisclosurePolicy, Jump, NotComputed, Provenance, ReportInput, SourceQuality,
    VerdictLead,
};

fn indicator(id: &str, extra: &str) -> Indicator {
    let text = format!(
        "/*\nid = \"{id}\"\n{extra}\nnumerator = \"Patients vaccinated\"\ndenominator = \"Patients aged 65 or over\"\ndefinition = \"Patients aged 65+ given a flu vaccine; the 'winter' programme & <catch-up>\"\nsource = \"Clinical searches\"\nmin_denominator = 30\n*/\nSELECT 1"
    );
    Indicator::parse(Path::new(&format!("{id}.sql")), &text).expect("fixture indicator")
}

fn indicators() -> Vec<Indicator> {
    vec![
        indicator(
            "flu_pct",
            "title = \"Flu vaccination, 65+\"\ndomain = \"clinical\"\nvalue_type = \"proportion\"\npolarity = \"high_is_good\"\ncaveats = \"Opt-outs count as not vaccinated.\"\ntags = [\"winter\", \"qof\"]",
        ),
        indicator(
            "dna_rate",
            "title = \"Missed appointments\"\ndomain = \"demand\"\nvalue_type = \"rate\"\nmultiplier = 1000\npolarity = \"low_is_good\"\nunits = \"per 1,000 appointments\"",
        ),
        indicator(
            "draft_pct",
            "title = \"A draft\"\ndomain = \"demand\"\nvalue_type = \"proportion\"\npolarity = \"no_judgement\"\ndraft = true",
        ),
    ]
}

fn practices() -> BTreeMap<String, PracticeInfo> {
    let names = [
        "Abbey Surgery",
        "O'Brien & <Partners>",
        "Castle Practice",
        "Dale Medical Centre",
        "Elm Tree Surgery",
        "Ford House",
    ];
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let code = format!("A{:05}", i + 1);
            let info = PracticeInfo {
                code: code.clone(),
                name: name.to_string(),
                pcn_code: "U1".into(),
                pcn_name: "Vale PCN".into(),
                federation: "F".into(),
                icb_code: "QAA".into(),
                list_size: Some(8000.0 + 1000.0 * i as f64),
                list_size_source: "registered_patients".into(),
                // Practice 6's latest list is a month behind the others'.
                list_size_month: Some(if i == 5 { "2026-01" } else { "2026-02" }.into()),
                descriptors: BTreeMap::new(),
            };
            (code, info)
        })
        .collect()
}

/// Fourteen months per practice: practice 1 jumps in the last month (an
/// outlier and a special cause), practice 6 has a count of 5 in it.
fn results(inds: &[Indicator], practices: &BTreeMap<String, PracticeInfo>) -> Vec<ResultRow> {
    let by_code: HashMap<String, PracticeInfo> = practices
        .iter()
        .map(|(c, p)| (c.clone(), p.clone()))
        .collect();
    let group = PeerGroup {
        name: "federation".into(),
        kind: PeerGroupKind::Federation,
        min_practices: 3,
        min_practices_for_funnel: 5,
    };
    let groups: Vec<ResolvedPeerGroup> = vec![group.resolve(&by_code)];
    let mut out = Vec::new();
    for (k, ind) in inds.iter().enumerate() {
        let mut rows = Vec::new();
        for m in 1..=14 {
            let period = format!("{}-{:02}", 2025 + (m - 1) / 12, (m - 1) % 12 + 1);
            for (i, code) in practices.keys().enumerate() {
                let d = 400.0 + 50.0 * i as f64;
                let n = match (i, m) {
                    (0, 14) => d * 0.9,
                    (5, 14) => 5.0,
                    _ => d * (0.3 + 0.02 * i as f64 + 0.01 * ((m + k) % 3) as f64),
                };
                rows.push(IndicatorRow {
                    practice_code: code.clone(),
                    period: period.clone(),
                    numerator: Some(n.round()),
                    denominator: Some(d),
                    strata: Vec::new(),
                });
            }
        }
        out.extend(compare_indicator(
            ind,
            &rows,
            &by_code,
            &groups,
            &CompareOptions::default(),
        ));
    }
    out
}

fn provenance() -> Provenance {
    Provenance {
        run_id: "20260101T000000Z-1".into(),
        peerbench_version: "0.0.0-test".into(),
        pipeline_name: "Fixture federation".into(),
        table_versions: vec![("appointments".into(), 3), ("qof".into(), 1)],
        sources: vec![
            SourceQuality {
                table: "appointments".into(),
                files: 14,
                rows_loaded: 840,
                rows_quarantined: 3,
                by_check: vec![("date_format".into(), 2), ("negative_count".into(), 1)],
                latest_month: Some("2026-02".into()),
                missing_latest: vec![],
                // Two practices' March came early.
                later_months: vec![("2026-03".into(), 2)],
                rows_replaced: 12,
                warning: Some("more than 0.1% of rows set aside".into()),
                jumps: vec![Jump {
                    practice_code: "A00002".into(),
                    measure: "rows".into(),
                    previous_period: "2026-01".into(),
                    latest_period: "2026-02".into(),
                    previous: 60,
                    latest: 25,
                }],
            },
            SourceQuality {
                table: "qof".into(),
                files: 1,
                rows_loaded: 6,
                rows_quarantined: 0,
                by_check: vec![],
                latest_month: Some("2026-01".into()),
                missing_latest: vec!["A00003".into()],
                later_months: vec![],
                rows_replaced: 0,
                warning: None,
                jumps: vec![],
            },
        ],
        quarantined_by_practice: [("A00004".to_string(), 3)].into(),
        unclaimed_files: vec!["landing/notes <draft>.csv".into()],
    }
}

/// Renders the fixture and hands each page kind to `check`.
fn with_site(check: impl FnOnce(&Site, &[Indicator])) {
    with_site_under(Disclosure::Standard, check)
}

/// The fixture with the board under `board`'s disclosure policy.
fn with_site_under(board: Disclosure, check: impl FnOnce(&Site, &[Indicator])) {
    with_site_led_by(board, VerdictLead::Funnel, check)
}

/// The fixture with the board under `board`'s policy and verdicts led by `verdict`.
fn with_site_led_by(
    board: Disclosure,
    verdict: VerdictLead,
    check: impl FnOnce(&Site, &[Indicator]),
) {
    with_results_edited(board, verdict, |_| {}, check)
}

/// The fixture with its result rows edited by `edit`.
fn with_results_edited(
    board: Disclosure,
    verdict: VerdictLead,
    edit: impl FnOnce(&mut Vec<ResultRow>),
    check: impl FnOnce(&Site, &[Indicator]),
) {
    let inds = indicators();
    let practices = practices();
    let mut results = results(&inds, &practices);
    edit(&mut results);
    let changes = what_changed(&results, "federation");
    let input = ReportInput {
        title: "Fixture & Federation".into(),
        indicators: &inds,
        practices: &practices,
        results: &results,
        primary_peer_group: "federation".into(),
        provenance: provenance(),
        changes,
        peer_groups: vec![PeerGroup {
            name: "federation".into(),
            kind: PeerGroupKind::Federation,
            min_practices: 3,
            min_practices_for_funnel: 5,
        }],
        disclosure: DisclosurePolicy {
            board,
            practice_pages: Disclosure::Exact,
            downloads: Disclosure::Standard,
        },
        verdict,
        phi: peerbench_stats::PhiEstimator::default(),
        extra_files: vec![],
        run_record: None,
        keep_earlier: 0,
        not_computed: vec![NotComputed {
            id: "broken_pct".into(),
            title: "Broken <indicator>".into(),
            reason: "division by zero at line 3".into(),
        }],
    };
    let site = Site::new(&input);
    check(&site, &inds);
}

#[test]
fn board_page() {
    with_site(|site, _| insta::assert_snapshot!(site.board_page()));
}

/// With exact counts the board names its outliers.
#[test]
fn board_page_exact() {
    with_site_under(Disclosure::Exact, |site, _| {
        insta::assert_snapshot!(site.board_page())
    });
}

/// A practice with no result in an indicator's latest period is counted as
/// "No data", so that each row of the board's summary adds up to every
/// practice rather than leaving a board to wonder where one went.
#[test]
fn the_board_summary_adds_up_to_every_practice() {
    let missing = |r: &ResultRow| {
        (&*r.indicator_id, &*r.practice_code, &*r.period) == ("dna_rate", "A00003", "2026-02")
    };
    with_results_edited(
        Disclosure::Exact,
        VerdictLead::Funnel,
        |results| results.retain(|r| !missing(r)),
        |site, _| {
            let page = site.board_page();
            let start = page.find("<h2>Summary by indicator</h2>").expect("summary");
            let end = start + page[start..].find("</table>").expect("its table");
            insta::assert_snapshot!(&page[start..end]);
        },
    );
}

/// One practice's next month, arrived before the others': the board still
/// leads with the month every practice has sent, and says what is not yet
/// shown; the other practices' pages do not turn to "no data".
#[test]
fn a_month_one_practice_sent_early_is_not_yet_shown() {
    with_results_edited(
        Disclosure::Exact,
        VerdictLead::Funnel,
        |results| {
            let early: Vec<ResultRow> = results
                .iter()
                .filter(|r| {
                    (&*r.indicator_id, &*r.practice_code, &*r.period)
                        == ("dna_rate", "A00002", "2026-02")
                })
                .map(|r| ResultRow {
                    period: "2026-03".into(),
                    ..r.clone()
                })
                .collect();
            assert!(!early.is_empty());
            results.extend(early);
        },
        |site, _| {
            let page = site.board_page();
            let start = page.find("<h2>Summary by indicator</h2>").expect("summary");
            let end = page
                .find("<h2>Practices × indicators</h2>")
                .expect("heat map");
            insta::assert_snapshot!(&page[start..end]);
            let other = site.practice_page("A00003");
            assert!(!other.contains("No data for this practice"), "{other}");
            assert!(!other.contains("Sent early"), "{other}");
            // The practice that sent it is told where it is.
            let early = site.practice_page("A00002");
            let start = early.find("<p class=\"meta\">Sent early").expect("said");
            let end = start + early[start..].find("</p>").expect("its end");
            insta::assert_snapshot!("sent_early", &early[start..end]);
        },
    );
}

#[test]
fn indicator_page() {
    with_site(|site, inds| insta::assert_snapshot!(site.indicator_page(&inds[0])));
}

#[test]
fn practice_page() {
    with_site(|site, _| {
        // Practice 2's name needs escaping; practice 6 has the small count.
        insta::assert_snapshot!("practice_page_escaped_name", site.practice_page("A00002"));
        insta::assert_snapshot!("practice_page_small_count", site.practice_page("A00006"));
        // The detail pages: every published domain has one, and no other.
        assert_eq!(site.detail_domains(), [Domain::Clinical, Domain::Demand]);
        insta::assert_snapshot!(
            "practice_detail_clinical_escaped_name",
            site.practice_domain_page("A00002", Domain::Clinical)
        );
        insta::assert_snapshot!(
            "practice_detail_demand_small_count",
            site.practice_domain_page("A00006", Domain::Demand)
        );
    });
}

/// With `[reports] verdict = "interval"` the pages lead with the 95%
/// interval, say so, and give the funnel position as the second line.
#[test]
fn pages_led_by_the_interval() {
    with_site_led_by(Disclosure::Exact, VerdictLead::Interval, |site, _| {
        let page = site.practice_page("A00002");
        assert!(
            page.contains("verdict leads with the practice's 95% interval, as Fingertips does")
        );
        assert!(page.contains("On the peer funnel: "));
        assert!(!page.contains("verdict leads with the peer funnel"));
        // Where it is set, for whoever would change it: on "How this was made".
        let how = site.how_page();
        assert!(how.contains("<code>[reports] verdict = &quot;interval&quot;</code>"));
        assert!(how.contains("verdict leads with the practice's 95% interval"));
        let board = site.board_page();
        assert!(board.contains("verdict leads with the practice's 95% interval"));
        assert!(
            !board.contains("(interval)</span>"),
            "nothing is marked as an exception"
        );
    });
}

/// How the publication was made, said once rather than on every page.
#[test]
fn how_page() {
    with_site(|site, _| insta::assert_snapshot!(site.how_page()));
}

#[test]
fn catalogue() {
    insta::assert_snapshot!(catalogue_page("Fixture & Federation", &indicators()));
}

/// Text from the data never becomes markup on any page.
#[test]
fn text_from_the_data_is_escaped_everywhere() {
    with_site(|site, inds| {
        let pages = [
            site.board_page(),
            site.how_page(),
            site.indicator_page(&inds[0]),
            site.practice_page("A00002"),
            site.practice_domain_page("A00002", Domain::Clinical),
            catalogue_page("Fixture & Federation", inds),
        ];
        for page in pages {
            for raw in [
                "<Partners>",
                "<catch-up>",
                "<indicator>",
                "<draft>",
                "& Federation",
            ] {
                assert!(!page.contains(raw), "{raw} unescaped");
            }
        }
    });
}
