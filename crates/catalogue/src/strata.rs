//! The output of standardised indicators (value types `dsr` and `isr`): one
//! row per practice, period, age band and (optionally) sex, so the engine can
//! weight the bands. Bands are the 19 of the 2013 European Standard
//! Population, 0–4 … 85–89 and 90+.

use peerbench_stats::ESP_2013;

/// The band labels in the order of [`ESP_2013`].
pub const ESP_BANDS: [&str; 19] = [
    "0-4", "5-9", "10-14", "15-19", "20-24", "25-29", "30-34", "35-39", "40-44", "45-49", "50-54",
    "55-59", "60-64", "65-69", "70-74", "75-79", "80-84", "85-89", "90+",
];

/// Sex within a stratum. `Persons` when the SQL has no `sex` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sex {
    Persons,
    Male,
    Female,
}

impl Sex {
    pub fn parse(s: &str) -> Option<Sex> {
        match s.trim().to_ascii_lowercase().as_str() {
            "m" | "male" | "males" | "1" => Some(Sex::Male),
            "f" | "female" | "females" | "2" => Some(Sex::Female),
            "persons" | "all" | "p" => Some(Sex::Persons),
            _ => None,
        }
    }
}

/// One age band (and sex) of a practice-period: events and population.
#[derive(Debug, Clone, PartialEq)]
pub struct Stratum {
    /// Index into [`ESP_BANDS`] / [`ESP_2013`].
    pub band: usize,
    pub sex: Sex,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
}

/// Reads an age band as an ESP 2013 band index. Accepts the labels analysts
/// meet in NHS extracts: `0-4`, `0_4`, `00-04`, `0 to 4`, `90+`, `90_plus`,
/// `90 and over`.
pub fn esp_band(label: &str) -> Result<usize, String> {
    let l = label.trim().to_ascii_lowercase();
    let open_ended = ["+", "_plus", " plus", " and over", "_and_over", "andover"]
        .iter()
        .find_map(|suffix| l.strip_suffix(suffix));
    let parsed = if let Some(lo) = open_ended {
        lo.trim()
            .parse::<u32>()
            .ok()
            .and_then(|lo| (lo == 90).then_some(18))
    } else {
        let parts: Vec<&str> = l
            .split(['-', '_', ' '])
            .filter(|p| !p.is_empty() && *p != "to")
            .collect();
        match parts.as_slice() {
            [lo, hi] => match (lo.parse::<u32>(), hi.parse::<u32>()) {
                (Ok(lo), Ok(hi)) if lo % 5 == 0 && hi == lo + 4 && lo <= 85 => {
                    Some((lo / 5) as usize)
                }
                _ => None,
            },
            _ => None,
        }
    };
    parsed.ok_or_else(|| {
        let hint = if l.starts_with("90") || l.starts_with("95") {
            " (fold 90-94 and 95+ into 90+: the shared view esp_population does)"
        } else {
            ""
        };
        format!(
            "age_band {label:?} is not one of the 19 bands of the 2013 European Standard Population (0-4, 5-9, …, 85-89, 90+){hint}"
        )
    })
}

/// The arrays Dobson's method needs — events, population and standard
/// weight per stratum — over every band of each sex present, so a band with
/// no rows counts as an empty band (its weight still in the total). None when
/// any stratum is suppressed.
pub fn dsr_arrays(strata: &[Stratum]) -> Option<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    let mut sexes: Vec<Sex> = strata.iter().map(|s| s.sex).collect();
    sexes.sort();
    sexes.dedup();
    let mut events = vec![0.0; sexes.len() * 19];
    let mut population = vec![0.0; sexes.len() * 19];
    let mut weights = Vec::with_capacity(sexes.len() * 19);
    for _ in &sexes {
        weights.extend_from_slice(&ESP_2013);
    }
    for s in strata {
        let i = sexes.binary_search(&s.sex).ok()? * 19 + s.band;
        events[i] += s.numerator?;
        population[i] += s.denominator?;
    }
    Some((events, population, weights))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_band_labels_extracts_use() {
        assert_eq!(esp_band("0-4"), Ok(0));
        assert_eq!(esp_band("0_4"), Ok(0));
        assert_eq!(esp_band("00-04"), Ok(0));
        assert_eq!(esp_band("45 to 49"), Ok(9));
        assert_eq!(esp_band("85_89"), Ok(17));
        assert_eq!(esp_band("90+"), Ok(18));
        assert_eq!(esp_band("90_plus"), Ok(18));
        assert_eq!(esp_band("90 and over"), Ok(18));
        for bad in ["95+", "90_94", "3-7", "0-9", "adults", "", "85+"] {
            let err = esp_band(bad).unwrap_err();
            assert!(err.contains("European Standard Population"), "{bad}: {err}");
        }
        assert!(esp_band("95+").unwrap_err().contains("esp_population"));
    }

    #[test]
    fn missing_bands_keep_their_weight() {
        let strata = [
            Stratum {
                band: 0,
                sex: Sex::Male,
                numerator: Some(3.0),
                denominator: Some(100.0),
            },
            Stratum {
                band: 18,
                sex: Sex::Female,
                numerator: Some(5.0),
                denominator: Some(50.0),
            },
        ];
        let (o, n, w) = dsr_arrays(&strata).unwrap();
        assert_eq!((o.len(), n.len(), w.len()), (38, 38, 38));
        assert_eq!(w.iter().sum::<f64>(), 200_000.0);
        assert_eq!((o[0], n[0], o[37], n[37]), (3.0, 100.0, 5.0, 50.0));
        let mut suppressed = strata.to_vec();
        suppressed[1].numerator = None;
        assert!(dsr_arrays(&suppressed).is_none());
    }
}
