//! The one page shell every page shares: head, stylesheet, site header,
//! main content and (on run pages) the footer naming the run.

use maud::{DOCTYPE, Markup, PreEscaped, html};

// Colour-blind-safe pairs from the NHS identity palette (blue for better,
// warm yellow for worse) with text labels, contrast ≥ 4.5:1 for the text.
const CSS: &str = r#"
:root{--blue:#005eb8;--dark:#212b32;--grey:#4c6272;--pale:#e8edee;--warm:#ffb81c;--purple:#330072;}
*{box-sizing:border-box}
body{font-family:Arial,Helvetica,sans-serif;color:var(--dark);margin:0;line-height:1.45;background:#fff}
header.site{background:var(--blue);color:#fff;padding:12px 24px}
header.site a{color:#fff}
main{padding:16px 24px;max-width:1200px}
h1{font-size:1.7rem;margin:.3em 0}
h2{font-size:1.3rem;margin-top:1.6em;border-bottom:2px solid var(--pale);padding-bottom:4px}
h3{font-size:1.1rem}
table{border-collapse:collapse;margin:8px 0 16px;font-size:.92rem}
caption{text-align:left;font-weight:bold;padding:4px 0}
th,td{border:1px solid #d8dde0;padding:4px 8px;text-align:left;vertical-align:middle}
th{background:var(--pale)}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.nowrap{white-space:nowrap}
td.verdict{min-width:18em}
.tag{display:inline-block;padding:1px 8px;border-radius:3px;font-weight:bold;white-space:nowrap;-webkit-print-color-adjust:exact;print-color-adjust:exact}
.better{background:var(--blue);color:#fff}
.worse{background:var(--warm);color:var(--dark)}
.similar{background:var(--pale);color:var(--dark)}
.higher{background:var(--purple);color:#fff}
.lower{background:#fff;color:var(--purple);border:2px solid var(--purple)}
.none{background:#fff;color:var(--grey);border:1px dashed var(--grey)}
.meta{color:var(--grey);font-size:.9rem}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 16px}
dl.facts dt{font-weight:bold}
dl.facts dd{margin:0}
.scroll{overflow-x:auto;max-width:100%}
.scroll:focus{outline:3px solid var(--warm)}
.heat td{text-align:center;font-size:.8rem;padding:2px 4px}
.heat .tag{padding:1px 4px}
.heat th[scope=row]{position:sticky;left:0;z-index:1;background:#fff;min-width:13em;font-weight:normal}
.heat th.ind{writing-mode:vertical-rl;transform:rotate(180deg);font-size:.8rem;max-height:16em;font-weight:normal}
.figures{display:flex;flex-wrap:wrap;gap:8px 24px;break-inside:avoid}
svg.spine{vertical-align:middle}
svg.chart{display:block;max-width:100%;height:auto;margin:8px 0;break-inside:avoid}
footer{border-top:2px solid var(--pale);margin-top:32px;padding:12px 24px;font-size:.85rem;color:var(--grey)}
@media print{header.site{background:none;color:var(--dark);border-bottom:2px solid var(--dark)}
 header.site a,a{color:var(--dark);text-decoration:none}
 main{max-width:none;padding:0}
 tr,svg,dl{break-inside:avoid}
 h2,h3,caption{break-after:avoid}
 section{break-before:auto}
 .scroll{overflow:visible}
 .heat th[scope=row]{position:static}
 .tag{border:1px solid var(--dark)}
 table{font-size:8.5pt}
 tbody th[scope=row]{min-width:11em}
 @page{size:A4;margin:12mm}}
"#;

/// A whole page. `root` leads back to the publication's top folder from
/// the page's own ("" or "../").
pub(super) fn page(
    title: &str,
    root: &str,
    site_title: &str,
    body: Markup,
    footer: Option<Markup>,
) -> Markup {
    html! {
        (DOCTYPE) "\n"
        html lang="en-GB" {
            "\n"
            head {
                "\n" meta charset="utf-8"; "\n"
                meta name="viewport" content="width=device-width, initial-scale=1"; "\n"
                title { (title) } "\n"
                // The crate's own stylesheet, a constant: the one raw insertion.
                style { (PreEscaped(CSS)) } "\n"
            }
            "\n"
            body {
                "\n"
                header class="site" { a href={ (root) "index.html" } { (site_title) } " · peerbench" } "\n"
                main { "\n" (body) "\n" } "\n"
                @if let Some(footer) = footer { (footer) "\n" }
            }
            "\n"
        }
        "\n"
    }
}
