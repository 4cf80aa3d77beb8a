//! What a page is made from, as one SHA-256: a page whose inputs are the
//! same as when the live publication made it is linked from there without
//! being made again (see `files`).
//!
//! The inputs are taken wide rather than exact, so that a page is never
//! reused when something it shows has changed: a practice's detail page
//! for a domain is taken to depend on every row of every indicator in that
//! domain (every practice, period and peer group, which also fixes the
//! indicator's reporting periods and its disclosure control), and on
//! everything else the pages are made from but the rows and the run's own
//! record (its id, the tables' versions, what was loaded): the register,
//! the peer groups, every indicator's definition, the disclosure and
//! verdict settings, the title and pipeline, and the build of peerbench
//! making it. After one practice resubmits one source, only the detail
//! pages of the domains whose indicators read it are made again.
//!
//! What is hashed for the rest is its `Debug` text, which names every
//! field; a row is hashed field by field, with the struct taken apart
//! whole so that a field added to it cannot be left out unnoticed.

use std::hash::{Hash, Hasher};

use peerbench_compare::ResultRow;
use sha2::{Digest, Sha256};

use crate::{Map, ReportInput};

pub type Sha = [u8; 32];

/// The inputs of the pages made per indicator and per practice and domain.
pub struct Inputs {
    /// Everything but the rows.
    common: Sha,
    /// Each indicator's rows.
    rows: Map<String, Sha>,
}

impl Inputs {
    pub fn of(input: &ReportInput) -> Inputs {
        let mut common = Sha256::new();
        let mut part = |what: &str, debug: String| {
            common.update((what.len() as u64).to_le_bytes());
            common.update(what.as_bytes());
            common.update((debug.len() as u64).to_le_bytes());
            common.update(debug.as_bytes());
        };
        part("build", built().to_string());
        part("title", format!("{:?}", input.title));
        let p = &input.provenance;
        part(
            "made by",
            format!("{:?} {:?}", p.peerbench_version, p.pipeline_name),
        );
        part("primary", format!("{:?}", input.primary_peer_group));
        part("disclosure", format!("{:?}", input.disclosure));
        part("verdict", format!("{:?}", input.verdict));
        part("phi", format!("{:?}", input.phi));
        part("register", format!("{:?}", input.practices));
        part("peer groups", format!("{:?}", input.peer_groups));
        part("indicators", format!("{:?}", input.indicators));
        Inputs {
            common: common.finalize().into(),
            rows: rows_by_indicator(input.results),
        }
    }

    /// A file about `subject` (`what` says which kind) made from exactly
    /// `rows` (a practice's download, made from its rows as disclosed).
    pub fn rows<'r>(
        &self,
        what: &str,
        subject: &str,
        rows: impl IntoIterator<Item = &'r ResultRow>,
    ) -> Sha {
        let mut h = self.about(what, subject);
        hash_rows(&mut h, rows);
        h.finalize().into()
    }

    /// A hash begun with everything but the rows, and which file it is for.
    fn about(&self, what: &str, subject: &str) -> Sha256 {
        let mut h = Sha256::new();
        h.update(self.common);
        for text in [what, subject] {
            h.update((text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        }
        h
    }

    /// A page about `subject` (`what` says which kind) made from the rows
    /// of `indicators`.
    pub fn page<'i>(
        &self,
        what: &str,
        subject: &str,
        indicators: impl IntoIterator<Item = &'i str>,
    ) -> Sha {
        let mut h = self.about(what, subject);
        for id in indicators {
            h.update((id.len() as u64).to_le_bytes());
            h.update(id.as_bytes());
            // An indicator with no rows hashes as zeros.
            h.update(self.rows.get(id).copied().unwrap_or_default());
        }
        h.finalize().into()
    }
}

/// A file made from exactly `rows` by this build of peerbench, whatever
/// else the run holds (a block of the results table's CSV).
pub fn rows_key<'r>(what: &str, rows: impl IntoIterator<Item = &'r ResultRow>) -> Sha {
    let mut h = Sha256::new();
    for text in [built(), what] {
        h.update((text.len() as u64).to_le_bytes());
        h.update(text.as_bytes());
    }
    hash_rows(&mut h, rows);
    h.finalize().into()
}

fn hash_rows<'r>(h: &mut Sha256, rows: impl IntoIterator<Item = &'r ResultRow>) {
    let mut buffer = Vec::with_capacity(512);
    for r in rows {
        buffer.clear();
        row_bytes(&mut buffer, r);
        h.update(&buffer);
    }
}

/// [`build`], worked out once a run.
fn built() -> &'static str {
    static BUILD: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILD.get_or_init(build)
}

/// The build of peerbench making the pages: its version and the SHA-256 of
/// its executable, so that pages made by another build, which may draw them
/// differently, are made again. The executable's length and time would not
/// do: a package that fixes one word keeps the length, and reproducible
/// builds keep the time. (About a tenth of a second for a release binary
/// with its debug information, once a run.)
fn build() -> String {
    let sha = std::env::current_exe().and_then(|exe| file_sha(&exe));
    match sha {
        Ok(sha) => format!("{} {sha:?}", env!("CARGO_PKG_VERSION")),
        // Unreadable: a build no other run can match, so nothing is reused.
        Err(e) => format!(
            "{} unreadable ({e}) at {:?}",
            env!("CARGO_PKG_VERSION"),
            std::time::SystemTime::now()
        ),
    }
}

/// The SHA-256 of the file at `path`, read a megabyte at a time.
pub fn file_sha(path: &std::path::Path) -> std::io::Result<Sha> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(h.finalize().into());
        }
        h.update(&buffer[..n]);
    }
}

/// Appends what is hashed into a buffer (`Hash` for the rows' categories).
struct Bytes<'b>(&'b mut Vec<u8>);

impl Hasher for Bytes<'_> {
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
    /// A category's discriminant (what derived `Hash` writes for an enum
    /// or an `Option`) as a variable-length number: one byte where the
    /// default takes eight, and a row has a dozen of them.
    fn write_isize(&mut self, i: isize) {
        let mut n = i as u64;
        loop {
            let more = n >= 0x80;
            self.0.push((n as u8 & 0x7f) | if more { 0x80 } else { 0 });
            n >>= 7;
            if !more {
                break;
            }
        }
    }
    fn finish(&self) -> u64 {
        0
    }
}

/// Each indicator's rows, in the order they are published, as one SHA-256.
fn rows_by_indicator(results: &[ResultRow]) -> Map<String, Sha> {
    let mut hashers: Map<&str, Sha256> = Map::default();
    let mut buffer = Vec::with_capacity(512);
    let mut current: Option<(&str, Sha256)> = None;
    for r in results {
        // Rows come grouped by indicator: one hasher at hand, not a lookup a row.
        if current
            .as_ref()
            .is_none_or(|(id, _)| *id != r.indicator_id.as_str())
        {
            if let Some((id, h)) = current.take() {
                hashers.insert(id, h);
            }
            let id = r.indicator_id.as_str();
            current = Some((id, hashers.remove(id).unwrap_or_default()));
        }
        buffer.clear();
        row_bytes(&mut buffer, r);
        if let Some((_, h)) = current.as_mut() {
            h.update(&buffer);
        }
    }
    if let Some((id, h)) = current {
        hashers.insert(id, h);
    }
    hashers
        .into_iter()
        .map(|(id, h)| (id.to_string(), h.finalize().into()))
        .collect()
}

fn row_bytes(out: &mut Vec<u8>, r: &ResultRow) {
    let ResultRow {
        indicator_id,
        practice_code,
        period,
        peer_group,
        peer_group_key,
        peer_group_size,
        numerator,
        denominator,
        value,
        lower_95,
        upper_95,
        lower_998,
        upper_998,
        benchmark,
        peer_median,
        percentile_rank,
        comparison,
        comparison_998,
        funnel_lower_95,
        funnel_upper_95,
        funnel_lower_998,
        funnel_upper_998,
        funnel_flag,
        funnel_flag_unadjusted,
        funnel_z,
        od_phi,
        od_tau2,
        spc_signal,
        spc_variation,
        spc_value,
        spc_seasonally_adjusted,
        spc_centre,
        spc_lower,
        spc_upper,
        spc_trial,
        trend,
        not_compared_reason,
    } = r;
    let mut h = Bytes(out);
    for text in [
        indicator_id,
        practice_code,
        period,
        peer_group,
        peer_group_key,
    ] {
        text.as_str().hash(&mut h);
    }
    peer_group_size.hash(&mut h);
    for x in [
        numerator,
        denominator,
        value,
        lower_95,
        upper_95,
        lower_998,
        upper_998,
        benchmark,
        peer_median,
        percentile_rank,
        funnel_lower_95,
        funnel_upper_95,
        funnel_lower_998,
        funnel_upper_998,
        funnel_z,
        od_phi,
        od_tau2,
        spc_value,
        spc_centre,
        spc_lower,
        spc_upper,
    ] {
        // A number's bits, or for none a NaN's, which no number held is
        // (see `Opt64`): 8 bytes, where `Option`'s hash takes 16.
        h.write_u64(x.get().map_or(u64::MAX, f64::to_bits));
    }
    (comparison, comparison_998).hash(&mut h);
    (funnel_flag, funnel_flag_unadjusted).hash(&mut h);
    (
        spc_signal,
        spc_variation,
        spc_seasonally_adjusted,
        spc_trial,
    )
        .hash(&mut h);
    trend.hash(&mut h);
    not_compared_reason
        .as_ref()
        .map(|r| r.as_str())
        .hash(&mut h);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(indicator: &str, code: &str, value: f64) -> ResultRow {
        let mut r = crate::disclosure::tests::row(code, "2026-09", value, 100.0);
        r.indicator_id = indicator.into();
        r
    }

    #[test]
    fn a_changed_row_changes_its_indicator_and_no_other() {
        let before = [
            row("a", "P1", 1.0),
            row("a", "P2", 2.0),
            row("b", "P1", 3.0),
        ];
        let mut after = before.clone();
        after[1].value = peerbench_compare::Opt64::some(2.5);
        assert_eq!(
            rows_by_indicator(&before),
            rows_by_indicator(&before.clone())
        );
        let (b, a) = (rows_by_indicator(&before), rows_by_indicator(&after));
        assert_ne!(b["a"], a["a"]);
        assert_eq!(b["b"], a["b"]);
        // A category or a reason counts as much as a number.
        let mut reason = before.clone();
        reason[2].not_compared_reason = Some("too few".into());
        assert_ne!(rows_by_indicator(&reason)["b"], b["b"]);
        // Rows of one indicator apart from each other hash as if together.
        let apart = [before[0].clone(), before[2].clone(), before[1].clone()];
        assert_eq!(rows_by_indicator(&apart)["a"], b["a"]);
        assert_eq!(rows_by_indicator(&apart)["b"], b["b"]);
        // A row's bytes: its five names, 4 bytes of group size, 21 numbers
        // of 8 bytes, and its categories, a byte for each (and for each
        // Option around one), not derived Hash's 8: 16 bytes for this row.
        let mut bytes = Vec::new();
        row_bytes(&mut bytes, &before[0]);
        let names: usize = ["a", "P1", "2026-09", "federation", "F"]
            .iter()
            .map(|n| n.len() + 1)
            .sum();
        assert_eq!(bytes.len(), names + 4 + 21 * 8 + 16);
    }
}
