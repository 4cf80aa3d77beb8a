//! An optional number in 8 bytes.
//!
//! The result set is held in memory from the comparisons until the pages are
//! written: millions of rows nationally, each with 21 optional numbers. As
//! `Option<f64>` each takes 16 bytes (the tag is padded to the float's
//! alignment); here NaN stands for "none", so each takes 8. That is 168 bytes
//! a row, half a gigabyte for the national preset's 3.25 million rows.
//!
//! NaN is never a value the results hold: the statistics give an error, not
//! a NaN, so a row that would have one has none and says why; and a NaN
//! count from an indicator's SQL (zero divided by zero) is a missing count,
//! its row not compared ("value is not a finite number"). So `Some(NaN)` and
//! `None` cannot be told apart here and need not be.
//!
//! The methods mirror `Option<f64>`'s, so reading code reads the same.

use std::fmt;

#[derive(Clone, Copy)]
pub struct Opt64(f64);

impl Opt64 {
    pub const NONE: Opt64 = Opt64(f64::NAN);

    pub fn some(x: f64) -> Opt64 {
        Opt64(x)
    }

    pub fn get(self) -> Option<f64> {
        (!self.0.is_nan()).then_some(self.0)
    }

    pub fn is_some(self) -> bool {
        !self.0.is_nan()
    }

    pub fn is_none(self) -> bool {
        self.0.is_nan()
    }

    pub fn map<U>(self, f: impl FnOnce(f64) -> U) -> Option<U> {
        self.get().map(f)
    }

    pub fn filter(self, f: impl FnOnce(&f64) -> bool) -> Option<f64> {
        self.get().filter(f)
    }

    pub fn map_or<U>(self, default: U, f: impl FnOnce(f64) -> U) -> U {
        self.get().map_or(default, f)
    }

    pub fn unwrap_or(self, default: f64) -> f64 {
        self.get().unwrap_or(default)
    }

    #[track_caller]
    pub fn unwrap(self) -> f64 {
        self.get().unwrap()
    }

    #[track_caller]
    pub fn expect(self, msg: &str) -> f64 {
        self.get().expect(msg)
    }

    pub fn unwrap_or_default(self) -> f64 {
        self.get().unwrap_or_default()
    }
}

impl From<Option<f64>> for Opt64 {
    fn from(x: Option<f64>) -> Opt64 {
        Opt64(x.unwrap_or(f64::NAN))
    }
}

impl PartialEq for Opt64 {
    fn eq(&self, other: &Opt64) -> bool {
        self.get() == other.get()
    }
}

impl PartialEq<Option<f64>> for Opt64 {
    fn eq(&self, other: &Option<f64>) -> bool {
        self.get() == *other
    }
}

impl IntoIterator for Opt64 {
    type Item = f64;
    type IntoIter = std::option::IntoIter<f64>;

    fn into_iter(self) -> Self::IntoIter {
        self.get().into_iter()
    }
}

/// Written as the `Option` it stands for, so debug output is unchanged.
impl fmt::Debug for Opt64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}
