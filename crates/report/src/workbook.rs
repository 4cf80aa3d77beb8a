//! The board's Excel workbook (`data/board-pack.xlsx`): one sheet per view
//! of the board pack, real numbers with number formats (not text), frozen
//! header rows and filters. It carries the board's disclosure policy, like
//! the board page.

use rust_xlsxwriter::{Format, FormatAlign, Workbook, Worksheet, XlsxError};

use peerbench_catalogue::{Domain, Indicator};
use peerbench_compare::ResultRow;
use peerbench_stats::Comparison;

use crate::pages::Site;
use crate::safe_csv::neutralise;
use crate::verdict::{Basis, Verdict};
use crate::wording;
use crate::{ReportError, Result};

/// Text goes into cells only as strings (never formulas), neutralised like
/// the CSVs: register values such as `=HYPERLINK(…)` or `+cmd|…` become
/// plain text with a leading `'`, so no cell runs or looks runnable.
trait SafeText {
    fn text(&mut self, r: u32, c: u16, s: impl AsRef<str>) -> Result<&mut Self, XlsxError>;
    fn text_with_format(
        &mut self,
        r: u32,
        c: u16,
        s: impl AsRef<str>,
        f: &Format,
    ) -> Result<&mut Self, XlsxError>;
}

impl SafeText for Worksheet {
    fn text(&mut self, r: u32, c: u16, s: impl AsRef<str>) -> Result<&mut Self, XlsxError> {
        self.write_string(r, c, neutralise(s.as_ref()))
    }
    fn text_with_format(
        &mut self,
        r: u32,
        c: u16,
        s: impl AsRef<str>,
        f: &Format,
    ) -> Result<&mut Self, XlsxError> {
        self.write_string_with_format(r, c, neutralise(s.as_ref()), f)
    }
}

/// Header row in bold on the NHS pale grey, frozen, with a filter over the
/// table below it.
fn header(ws: &mut Worksheet, columns: &[(&str, f64)], rows: u32) -> Result<(), XlsxError> {
    let bold = Format::new()
        .set_bold()
        .set_background_color(0xE8EDEE)
        .set_text_wrap()
        .set_align(FormatAlign::Top);
    for (c, (name, width)) in columns.iter().enumerate() {
        ws.text_with_format(0, c as u16, *name, &bold)?;
        ws.set_column_width(c as u16, *width)?;
    }
    ws.set_freeze_panes(1, 0)?;
    ws.autofilter(0, 0, rows.max(1), columns.len() as u16 - 1)?;
    Ok(())
}

fn number(ws: &mut Worksheet, r: u32, c: u16, x: Option<f64>, f: &Format) -> Result<(), XlsxError> {
    match x {
        Some(v) if v.is_finite() => ws.write_number_with_format(r, c, v, f).map(|_| ()),
        _ => Ok(()),
    }
}

/// Builds the workbook; returns its bytes.
pub fn board_workbook(site: &Site) -> Result<Vec<u8>> {
    build(site).map_err(ReportError::Workbook)
}

/// What every sheet reads: the site, the board's view of it, the
/// indicators in board order and the number formats.
struct Pack<'s, 'a> {
    site: &'s Site<'a>,
    input: &'s crate::ReportInput<'a>,
    board: crate::Disclosure,
    view: crate::disclosure::View<'s>,
    inds: Vec<&'a Indicator>,
    one_dp: Format,
    whole: Format,
    wrap: Format,
    /// Every latest result, by indicator then practice.
    latest: Vec<&'a ResultRow>,
}

impl Pack<'_, '_> {
    fn title_of(&self, id: &str) -> String {
        self.inds
            .iter()
            .find(|i| i.id == id)
            .map_or(id.to_string(), |i| i.title.clone())
    }

    /// A latest result's verdict as the board shows it (None for a row of
    /// an indicator not in the catalogue, which the pages never show).
    fn verdict(&self, row: &ResultRow) -> Option<Verdict> {
        let ind = self
            .input
            .indicators
            .iter()
            .find(|i| *i.id == *row.indicator_id)?;
        Some(self.site.verdict(&self.view, ind, row))
    }

    fn name_of(&self, code: &str) -> &str {
        self.input
            .practices
            .get(code)
            .map_or("", |p| p.name.as_str())
    }
}

/// One sheet per view of the board pack, in the order the board page shows them.
fn build(site: &Site) -> Result<Vec<u8>, XlsxError> {
    let mut inds: Vec<&Indicator> = site.published_indicators();
    let rank = |d: Domain| Domain::ALL.iter().position(|x| *x == d).unwrap_or(0);
    inds.sort_by(|a, b| (rank(a.domain), &a.title).cmp(&(rank(b.domain), &b.title)));
    let mut latest: Vec<&ResultRow> = site.latest.values().copied().collect();
    latest.sort_by(|a, b| {
        (&a.indicator_id, &a.practice_code).cmp(&(&b.indicator_id, &b.practice_code))
    });
    let pack = Pack {
        site,
        input: site.input,
        board: site.input.disclosure.board,
        view: site.board_view(),
        inds,
        one_dp: Format::new().set_num_format("#,##0.0"),
        whole: Format::new().set_num_format("#,##0"),
        wrap: Format::new().set_text_wrap().set_align(FormatAlign::Top),
        latest,
    };
    let mut wb = Workbook::new();
    // Fixed document properties keep the bytes the same for the same run.
    let created = rust_xlsxwriter::ExcelDateTime::from_ymd(2000, 1, 1)?;
    wb.set_properties(
        &rust_xlsxwriter::DocProperties::new()
            .set_title(&site.input.title)
            .set_creation_datetime(&created),
    );
    read_me(&pack, &mut wb)?;
    summary(&pack, &mut wb)?;
    heat_map(&pack, &mut wb)?;
    outliers(&pack, &mut wb)?;
    latest_results(&pack, &mut wb)?;
    changes(&pack, &mut wb)?;
    data_quality(&pack, &mut wb)?;
    wb.save_to_buffer()
}

/// 1. Read me: what this is and how it was made.
fn read_me(pack: &Pack, wb: &mut Workbook) -> Result<(), XlsxError> {
    let Pack {
        input, board, wrap, ..
    } = pack;
    let ws = wb.add_worksheet().set_name("Read me")?;
    ws.set_column_width(0, 24)?;
    ws.set_column_width(1, 100)?;
    let p = &input.provenance;
    let lines: Vec<(&str, String)> = vec![
        ("Report", input.title.clone()),
        ("Run", format!("{} (peerbench {})", p.run_id, p.peerbench_version)),
        ("Peer group", input.primary_peer_group.clone()),
        ("Disclosure control", board.describe().to_string()),
        (
            "Sheets",
            "Summary by indicator (how many practices have each verdict, or no result, in the latest period); Heat map (latest verdict per practice and indicator); Outliers (beyond the 99.8% funnel limits, most outside first); Latest results (every practice and indicator, with its verdict and both comparisons); Changes (since last period); Data quality (rows loaded and set aside per source)".into(),
        ),
        ("Verdicts", wording::verdict_lead(input.verdict).to_string()),
        (
            "Methods",
            "Proportions: Wilson intervals; rates and ratios: Byar / exact Poisson; DSRs: Dobson with the 2013 European Standard Population; funnels adjusted for overdispersion (Spiegelhalter); run charts: XmR with the Making Data Count rules. See how.html ('How this was made'), linked from every page.".into(),
        ),
    ];
    for (i, (k, v)) in lines.iter().enumerate() {
        ws.text_with_format(i as u32, 0, *k, &Format::new().set_bold())?;
        ws.text_with_format(i as u32, 1, v, wrap)?;
    }

    Ok(())
}

/// 2. Summary by indicator.
fn summary(pack: &Pack, wb: &mut Workbook) -> Result<(), XlsxError> {
    let Pack {
        site,
        input,
        view,
        inds,
        one_dp,
        ..
    } = pack;
    let ws = wb.add_worksheet().set_name("Summary")?;
    header(
        ws,
        &[
            ("Indicator id", 28.0),
            ("Indicator", 48.0),
            ("Domain", 20.0),
            ("Units", 28.0),
            ("Latest period", 12.0),
            ("Peer value", 12.0),
            ("Better", 9.0),
            ("Similar", 9.0),
            ("Worse", 9.0),
            ("Higher or lower", 10.0),
            ("Not compared", 10.0),
            ("No data", 9.0),
        ],
        inds.len() as u32,
    )?;
    for (i, ind) in inds.iter().enumerate() {
        let r = i as u32 + 1;
        // The last slot is the practices with no result in the latest
        // period, so that a row adds up to every practice.
        let mut counts = [0u32; 6];
        let mut bench = None;
        for code in input.practices.keys() {
            if let Some(row) = site.latest.get(&(ind.id.as_str(), code.as_str())) {
                let c = site.verdict(view, ind, row).tag;
                let slot = match c {
                    Comparison::Better => 0,
                    Comparison::Similar => 1,
                    Comparison::Worse => 2,
                    Comparison::Higher | Comparison::Lower => 3,
                    Comparison::NotCompared => 4,
                };
                counts[slot] += 1;
                bench = bench.or(view.benchmark(row));
            } else {
                counts[5] += 1;
            }
        }
        ws.text(r, 0, &ind.id)?;
        ws.text(r, 1, &ind.title)?;
        ws.text(r, 2, ind.domain.title())?;
        ws.text(r, 3, &ind.units)?;
        ws.text(
            r,
            4,
            site.latest_period
                .get(ind.id.as_str())
                .copied()
                .unwrap_or(""),
        )?;
        number(ws, r, 5, bench, one_dp)?;
        for (k, n) in counts.iter().enumerate() {
            ws.write_number(r, 6 + k as u16, *n)?;
        }
    }

    Ok(())
}

/// 3. Heat map: the verdict per practice and indicator.
fn heat_map(pack: &Pack, wb: &mut Workbook) -> Result<(), XlsxError> {
    let Pack {
        site,
        input,
        view,
        inds,
        ..
    } = pack;
    // Written row by row, so held a row at a time (rust_xlsxwriter's "low
    // memory" mode; the file is the same): nationally this sheet is 230,000
    // cells and "Latest results" 3.6 million, which in the standard mode
    // held about 0.8 GB at the run's peak.
    let ws = wb.add_worksheet_with_low_memory()?.set_name("Heat map")?;
    let mut columns: Vec<(&str, f64)> = vec![("Practice code", 10.0), ("Practice", 30.0)];
    columns.extend(inds.iter().map(|i| (i.title.as_str(), 14.0)));
    header(ws, &columns, input.practices.len() as u32)?;
    ws.set_row_height(0, 90)?;
    ws.set_freeze_panes(1, 2)?;
    for (i, (code, p)) in input.practices.iter().enumerate() {
        let r = i as u32 + 1;
        ws.text(r, 0, code)?;
        ws.text(r, 1, &p.name)?;
        for (k, ind) in inds.iter().enumerate() {
            let word = match site.latest.get(&(ind.id.as_str(), code.as_str())) {
                Some(row) => wording::comparison_tag(site.verdict(view, ind, row).tag).word,
                None => "No data",
            };
            ws.text(r, 2 + k as u16, word)?;
        }
    }

    Ok(())
}

/// 4. Outliers beyond the 99.8% limits.
fn outliers(pack: &Pack, wb: &mut Workbook) -> Result<(), XlsxError> {
    let Pack { view, one_dp, .. } = pack;
    let mut outliers: Vec<&&ResultRow> = pack
        .latest
        .iter()
        .filter(|r| {
            r.funnel_flag.is_some_and(|f| f.is_outlier()) && view.funnel_not_shown(r).is_none()
        })
        .collect();
    // Most outside the limits first, as on the board page.
    let distance = |r: &ResultRow| view.funnel_z(r).map_or(0.0, f64::abs);
    outliers.sort_by(|a, b| distance(b).total_cmp(&distance(a)));
    let ws = wb.add_worksheet().set_name("Outliers")?;
    header(
        ws,
        &[
            ("Indicator", 44.0),
            ("Practice code", 10.0),
            ("Practice", 30.0),
            ("Period", 10.0),
            ("Value", 10.0),
            ("Lower 99.8% limit", 10.0),
            ("Upper 99.8% limit", 10.0),
            ("Position", 22.0),
            ("φ (dispersion ratio)", 10.0),
            ("τ² (between-practice variance)", 12.0),
            ("How far outside: funnel z (limits at ±3.09)", 14.0),
        ],
        outliers.len() as u32,
    )?;
    let five_dp = Format::new().set_num_format("0.00000");
    for (i, row) in outliers.iter().enumerate() {
        let r = i as u32 + 1;
        ws.text(r, 0, pack.title_of(&row.indicator_id))?;
        ws.text(r, 1, &row.practice_code)?;
        ws.text(r, 2, pack.name_of(&row.practice_code))?;
        ws.text(r, 3, &row.period)?;
        number(ws, r, 4, row.value.get(), one_dp)?;
        number(ws, r, 5, row.funnel_lower_998.get(), one_dp)?;
        number(ws, r, 6, row.funnel_upper_998.get(), one_dp)?;
        ws.text(r, 7, wording::funnel_position(row.funnel_flag))?;
        number(
            ws,
            r,
            8,
            row.od_phi.get(),
            &Format::new().set_num_format("0.00"),
        )?;
        number(ws, r, 9, row.od_tau2.get(), &five_dp)?;
        number(
            ws,
            r,
            10,
            view.funnel_z(row),
            &Format::new().set_num_format("0.00"),
        )?;
    }

    Ok(())
}

/// 5. Every latest result.
fn latest_results(pack: &Pack, wb: &mut Workbook) -> Result<(), XlsxError> {
    let Pack {
        site,
        board,
        view,
        one_dp,
        whole,
        ..
    } = pack;
    let ws = wb
        .add_worksheet_with_low_memory()?
        .set_name("Latest results")?;
    header(
        ws,
        &[
            ("Indicator id", 26.0),
            ("Indicator", 44.0),
            ("Practice code", 10.0),
            ("Practice", 30.0),
            ("Period", 10.0),
            ("Numerator", 11.0),
            ("Denominator", 12.0),
            ("Value", 10.0),
            ("Lower 95%", 10.0),
            ("Upper 95%", 10.0),
            ("Peer benchmark", 10.0),
            ("Compared with peers", 14.0),
            ("Peer funnel", 22.0),
            ("Own run chart", 30.0),
            ("Verdict", 14.0),
            ("Verdict judged on", 12.0),
            ("Verdict in words", 60.0),
        ],
        pack.latest.len() as u32,
    )?;
    for (i, row) in pack.latest.iter().enumerate() {
        let r = i as u32 + 1;
        let hidden = view.hidden(row);
        ws.text(r, 0, &row.indicator_id)?;
        ws.text(r, 1, pack.title_of(&row.indicator_id))?;
        ws.text(r, 2, &row.practice_code)?;
        ws.text(r, 3, pack.name_of(&row.practice_code))?;
        ws.text(r, 4, &row.period)?;
        // Counts as the board may show them: rounded, or * when small.
        let published = board.apply(row, &site.sup);
        for (c, original, shown) in [
            (5u16, row.numerator.get(), published.numerator.get()),
            (6, row.denominator.get(), published.denominator.get()),
        ] {
            match (original, shown) {
                (_, Some(v)) => ws.write_number_with_format(r, c, v, whole).map(|_| ())?,
                (Some(_), None) => ws.text(r, c, "*").map(|_| ())?,
                (None, None) => ws.text(r, c, "suppressed").map(|_| ())?,
            }
        }
        if hidden.is_some() {
            ws.text(r, 7, "*")?;
        } else {
            number(ws, r, 7, row.value.get(), one_dp)?;
            number(ws, r, 8, row.lower_95.get(), one_dp)?;
            number(ws, r, 9, row.upper_95.get(), one_dp)?;
        }
        number(ws, r, 10, view.benchmark(row), one_dp)?;
        ws.text(r, 11, wording::comparison_tag(view.comparison(row)).word)?;
        ws.text(
            r,
            12,
            view.funnel_not_shown(row)
                .unwrap_or_else(|| wording::funnel_position(row.funnel_flag)),
        )?;
        match hidden {
            Some(h) => ws.text(r, 13, h.words())?,
            None => ws.text(
                r,
                13,
                wording::run_chart_reading(row.spc_signal, row.spc_variation),
            )?,
        };
        if let Some(v) = pack.verdict(row) {
            ws.text(r, 14, wording::comparison_tag(v.tag).word)?;
            ws.text(
                r,
                15,
                match v.basis {
                    Basis::Funnel => "funnel",
                    Basis::Interval => "interval",
                },
            )?;
            let words = match &v.second {
                Some(second) => format!("{}. {second}", v.lead),
                None => v.lead.clone(),
            };
            ws.text_with_format(r, 16, words, &pack.wrap)?;
        }
    }

    Ok(())
}

/// 6. Since last period, as far as the board may show it.
fn changes(pack: &Pack, wb: &mut Workbook) -> Result<(), XlsxError> {
    let Pack { site, .. } = pack;
    let changes = site.changes();
    let ws = wb.add_worksheet().set_name("Changes")?;
    header(
        ws,
        &[
            ("What changed", 24.0),
            ("Indicator", 44.0),
            ("Practice code", 10.0),
            ("Practice", 30.0),
            ("Period", 10.0),
            ("Now", 22.0),
            ("Previous period", 12.0),
            ("Before", 22.0),
        ],
        changes.len() as u32,
    )?;
    for (i, c) in changes.iter().enumerate() {
        let r = i as u32 + 1;
        let what = wording::change_kind(c.kind);
        ws.text(r, 0, what)?;
        ws.text(r, 1, pack.title_of(&c.indicator_id))?;
        ws.text(r, 2, &c.practice_code)?;
        ws.text(r, 3, pack.name_of(&c.practice_code))?;
        ws.text(r, 4, &c.period)?;
        ws.text(r, 5, wording::reading(c.now))?;
        ws.text(r, 6, &c.previous_period)?;
        ws.text(r, 7, wording::reading(c.before))?;
    }

    Ok(())
}

/// 7. Data quality.
fn data_quality(pack: &Pack, wb: &mut Workbook) -> Result<(), XlsxError> {
    let p = &pack.input.provenance;
    let Pack { whole, .. } = pack;
    let ws = wb.add_worksheet().set_name("Data quality")?;
    header(
        ws,
        &[
            ("Source table", 24.0),
            ("Files", 8.0),
            ("Rows loaded", 12.0),
            ("Rows set aside", 12.0),
            ("Why", 60.0),
            ("Latest month", 12.0),
            ("Practices missing from the latest month", 60.0),
            ("Rows replaced by resubmissions", 14.0),
            ("Sudden changes since the previous period", 80.0),
        ],
        p.sources.len() as u32,
    )?;
    for (i, s) in p.sources.iter().enumerate() {
        let r = i as u32 + 1;
        ws.text(r, 0, &s.table)?;
        ws.write_number(r, 1, s.files as f64)?;
        ws.write_number_with_format(r, 2, s.rows_loaded as f64, whole)?;
        ws.write_number_with_format(r, 3, s.rows_quarantined as f64, whole)?;
        let mut why = s
            .by_check
            .iter()
            .map(|(c, n)| format!("{c} × {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        if s.warning.is_some() {
            why.push_str(" (more than the source's warning level)");
        }
        ws.text(r, 4, why)?;
        if let Some(m) = &s.latest_month {
            let later: String = s
                .later_months
                .iter()
                .map(|(month, n)| format!(" ({month}: {n} so far, not yet shown)"))
                .collect();
            ws.text(r, 5, format!("{m}{later}"))?;
            ws.text(r, 6, s.missing_latest.join(", "))?;
        }
        ws.write_number_with_format(r, 7, s.rows_replaced as f64, whole)?;
        let jumps = s
            .jumps
            .iter()
            .map(|j| format!("{}: {}", j.practice_code, j.describe()))
            .collect::<Vec<_>>()
            .join("; ");
        ws.text(r, 8, jumps)?;
    }

    Ok(())
}
