//! The indicator catalogue (`indicators.html`): every indicator's metadata,
//! written from the SQL files' headers, grouped by domain.

use maud::{Markup, html};
use peerbench_catalogue::{Domain, Indicator};

use super::{head, layout};
use crate::wording;

/// The catalogue page. Drafts are listed and marked.
pub fn catalogue_page(title: &str, indicators: &[Indicator]) -> String {
    let body = html! {
        h1 { "Indicator catalogue" } "\n"
        p {
            (indicators.len())
            " indicators. Each is one SQL file with its metadata; this page is written from them."
        } "\n"
        table {
            (head(&["Indicator", "Domain", "Type", "Better is", "Minimum denominator"]))
            tbody {
                "\n"
                @for ind in indicators {
                    tr {
                        td {
                            a href={ "#" (ind.id) } { (ind.title) }
                            @if ind.draft { " " span class="meta" { "(draft)" } }
                        }
                        td { (ind.domain.title()) }
                        td { (ind.value_type.as_str()) " (" (ind.units) ")" }
                        td { (wording::better_is_short(ind.polarity)) }
                        td class="num" { (ind.min_denominator) }
                    } "\n"
                }
            }
        } "\n"
        @for domain in Domain::ALL {
            @let inds: Vec<&Indicator> = indicators.iter().filter(|i| i.domain == domain).collect();
            @if !inds.is_empty() {
                h2 { (domain.title()) } "\n"
                @for ind in inds { (section(ind)) "\n" }
            }
        }
    };
    layout::page(
        &format!("Indicator catalogue — {title}"),
        "",
        title,
        body,
        None,
    )
    .into_string()
}

/// One indicator's facts; a fact left empty in its file is left out.
fn section(ind: &Indicator) -> Markup {
    let tags = ind.tags.join(", ");
    let facts = [
        ("Id", ind.id.as_str()),
        ("Numerator", &ind.numerator),
        ("Denominator", &ind.denominator),
        ("Definition", &ind.definition),
        ("Why it matters", &ind.why_it_matters),
        ("Source", &ind.source),
        ("Caveats", &ind.caveats),
        ("Owner", &ind.owner),
        ("Reviewed", ind.reviewed.as_deref().unwrap_or("")),
        ("Next review", ind.next_review.as_deref().unwrap_or("")),
        ("Tags", &tags),
    ];
    html! {
        section id=(ind.id) {
            h3 { (ind.title) }
            dl class="facts" {
                @for (k, v) in facts {
                    @if !v.trim().is_empty() { dt { (k) } dd { (v) } }
                }
            }
        }
    }
}
