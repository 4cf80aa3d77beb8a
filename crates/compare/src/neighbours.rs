//! Similar-practice peer groups: the k nearest practices on standardised,
//! weighted descriptors (methods reference §8).

use std::collections::{BTreeMap, HashMap};

use crate::PracticeInfo;

/// A descriptor and its weight in the distance, published with the report.
#[derive(Debug, Clone, PartialEq)]
pub struct DescriptorWeight {
    pub name: String,
    pub weight: f64,
}

/// For each practice with every descriptor, its `k` nearest other practices
/// (Euclidean distance on z-scores, each squared difference weighted). Ties
/// are broken by practice code so the groups are reproducible. Practices
/// lacking a descriptor get no group rather than a guessed one.
pub fn nearest_neighbours(
    practices: &HashMap<String, PracticeInfo>,
    weights: &[DescriptorWeight],
    k: usize,
) -> BTreeMap<String, Vec<String>> {
    let mut codes: Vec<&String> = practices
        .iter()
        .filter(|(_, p)| {
            weights
                .iter()
                .all(|w| p.descriptors.get(&w.name).is_some_and(|v| v.is_finite()))
        })
        .map(|(c, _)| c)
        .collect();
    codes.sort();
    let n = codes.len();
    // Standardise each descriptor across the practices that have it all.
    let mut z = vec![vec![0.0; weights.len()]; n];
    for (j, w) in weights.iter().enumerate() {
        let xs: Vec<f64> = codes
            .iter()
            .map(|c| practices[*c].descriptors[&w.name])
            .collect();
        let mean = xs.iter().sum::<f64>() / n.max(1) as f64;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n.max(1) as f64).sqrt();
        for (i, x) in xs.iter().enumerate() {
            z[i][j] = if sd > 0.0 { (x - mean) / sd } else { 0.0 };
        }
    }
    let mut out = BTreeMap::new();
    for i in 0..n {
        let mut d: Vec<(f64, &String)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| {
                let dist: f64 = weights
                    .iter()
                    .enumerate()
                    .map(|(t, w)| w.weight * (z[i][t] - z[j][t]).powi(2))
                    .sum();
                (dist.sqrt(), codes[j])
            })
            .collect();
        let order =
            |a: &(f64, &String), b: &(f64, &String)| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1));
        // Only the k nearest need sorting: partition first (national scale).
        if k < d.len() {
            d.select_nth_unstable_by(k, order);
            d.truncate(k);
        }
        d.sort_by(order);
        out.insert(
            codes[i].clone(),
            d.into_iter().map(|(_, c)| c.clone()).collect(),
        );
    }
    out
}
