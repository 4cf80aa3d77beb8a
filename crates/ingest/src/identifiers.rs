//! Refusing files that carry patient-level identifiers: a column of NHS
//! numbers, a date-of-birth column, or (outside the practice register, which
//! may hold the practice's own address) a column of postcodes. Extracts are
//! counts per practice; a file like this is a disclosure, not bad data, so it
//! is not loaded at all — and the message names the column and line, never a
//! value.

use csv::StringRecord;

use crate::shape::header_key;
use crate::{IngestError, Result};

/// How many rows are read ahead and checked for patient identifiers.
pub(crate) const PATIENT_SAMPLE_ROWS: usize = 200;

/// Whether a value is an NHS number: ten digits (spaces allowed as NHS
/// Digital prints them, 3-3-4) whose tenth is the modulus-11 check digit of
/// the first nine.
pub fn is_nhs_number(s: &str) -> bool {
    let digits: Vec<u32> = s
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| c.to_digit(10))
        .collect::<Option<Vec<u32>>>()
        .unwrap_or_default();
    if digits.len() != 10 {
        return false;
    }
    let sum: u32 = digits[..9]
        .iter()
        .enumerate()
        .map(|(i, d)| d * (10 - i as u32))
        .sum();
    match 11 - sum % 11 {
        11 => digits[9] == 0,
        10 => false,
        check => digits[9] == check,
    }
}

/// Whether a value looks like a full UK postcode (outward and inward code).
pub(crate) fn is_postcode(s: &str) -> bool {
    let t: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let b = t.as_bytes();
    if !(5..=7).contains(&b.len()) {
        return false;
    }
    let (outward, inward) = b.split_at(b.len() - 3);
    inward[0].is_ascii_digit()
        && inward[1..].iter().all(u8::is_ascii_alphabetic)
        && outward[0].is_ascii_alphabetic()
        && outward.iter().all(u8::is_ascii_alphanumeric)
        && outward.iter().any(u8::is_ascii_digit)
}

/// Refuses the file when its header names a date of birth, or when a
/// column of the sample rows (with their line numbers) holds NHS numbers or
/// (with `check_postcodes`) postcodes.
pub(crate) fn refuse_patient_identifiers(
    file: &str,
    sample: &[(usize, &StringRecord)],
    header_line: usize,
    header: &[String],
    check_postcodes: bool,
) -> Result<()> {
    let refuse = |position: usize, line: usize, what: &'static str| {
        Err(IngestError::PatientIdentifiers {
            file: file.to_string(),
            line,
            column: header[position].clone(),
            position: position + 1,
            what,
        })
    };
    for (i, h) in header.iter().enumerate() {
        let k = header_key(h);
        if k == "dob" || k.contains("dateofbirth") || k.contains("birthdate") || k == "birth" {
            return refuse(i, header_line, "dates of birth");
        }
    }
    // Per column: (values seen, NHS numbers, postcodes, first line of a hit).
    let mut seen = vec![(0usize, 0usize, 0usize, 0usize); header.len()];
    for &(line, record) in sample {
        for (i, v) in record.iter().enumerate().take(header.len()) {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            let c = &mut seen[i];
            c.0 += 1;
            let nhs = is_nhs_number(v);
            let postcode = check_postcodes && is_postcode(v);
            c.1 += usize::from(nhs);
            c.2 += usize::from(postcode);
            if (nhs || postcode) && c.3 == 0 {
                c.3 = line;
            }
        }
    }
    // Most values, and at least three: one valid-looking number by chance
    // (about one random 10-digit number in eleven passes) is not a column.
    for (i, (n, nhs, postcodes, line)) in seen.into_iter().enumerate() {
        if nhs >= 3 && nhs * 5 >= n * 4 {
            return refuse(
                i,
                line,
                "NHS numbers (10 digits passing the modulus-11 check)",
            );
        }
        if postcodes >= 3 && postcodes * 5 >= n * 4 {
            return refuse(i, line, "postcodes");
        }
    }
    Ok(())
}
