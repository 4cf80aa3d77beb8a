//! `--select`: picking indicators by id, tag or domain, with "did you
//! mean" suggestions for a selector that matches nothing.

use crate::{Domain, Indicator};

/// A domain name that is not one of [`Domain::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown domain {name:?} (domains: {})", Domain::ALL.map(Domain::as_str).join(", "))]
pub struct UnknownDomain {
    pub name: String,
}

/// A selector that picks nothing: a usage error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error(transparent)]
    UnknownDomain(#[from] UnknownDomain),
    #[error(
        "--select {selector:?} matches no indicator{}",
        did_you_mean(suggestions)
    )]
    NoMatch {
        selector: String,
        /// The closest indicator ids, at most three.
        suggestions: Vec<String>,
    },
}

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The names closest to `wanted` (at most three, within a few edits).
pub fn close_matches<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let wanted = wanted.to_ascii_lowercase();
    let mut scored: Vec<(usize, String)> = candidates
        .into_iter()
        .map(|c| {
            let short = c.rsplit('.').next().unwrap_or(c).to_string();
            (edit_distance(&wanted, &short.to_ascii_lowercase()), short)
        })
        .filter(|(d, s)| *d <= 2.max(wanted.len() / 3) && *d < s.len())
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, s)| s).collect()
}

/// ` — did you mean a or b?` for suggestions; nothing without any.
pub fn did_you_mean(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        m => format!(" — did you mean {}?", m.join(" or ")),
    }
}

/// Picks indicators like dbt's `--select`: an id, `tag:<tag>` or
/// `domain:<domain>`; several selectors are a union; none selects all.
pub fn select<'a>(
    catalogue: &'a [Indicator],
    selectors: &[String],
) -> Result<Vec<&'a Indicator>, SelectError> {
    if selectors.is_empty() {
        return Ok(catalogue.iter().collect());
    }
    let mut out: Vec<&Indicator> = Vec::new();
    for sel in selectors {
        let matched: Vec<&Indicator> = if let Some(tag) = sel.strip_prefix("tag:") {
            catalogue
                .iter()
                .filter(|i| i.tags.iter().any(|t| t == tag))
                .collect()
        } else if let Some(domain) = sel.strip_prefix("domain:") {
            let d = Domain::named(domain)?;
            catalogue.iter().filter(|i| i.domain == d).collect()
        } else {
            catalogue.iter().filter(|i| i.id == *sel).collect()
        };
        if matched.is_empty() {
            return Err(SelectError::NoMatch {
                selector: sel.clone(),
                suggestions: close_matches(sel, catalogue.iter().map(|i| i.id.as_str())),
            });
        }
        for m in matched {
            if !out.iter().any(|o| o.id == m.id) {
                out.push(m);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_close() {
        assert_eq!(
            close_matches(
                "appt_statu",
                ["appointments.appt_status", "appointments.month"]
            ),
            vec!["appt_status"]
        );
        assert!(close_matches("zzz", ["appointments.appt_status"]).is_empty());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
