//! A bench's targets: each measured value checked against its target as it is printed, and
//! the bench ending non-zero with every missed target named, so that `make bench` fails
//! when one is missed (each bench includes this file with `#[path]`).

use std::cmp::Ordering::{Equal, Less};

#[derive(Default)]
pub struct Targets {
    missed: Vec<String>,
}

#[allow(dead_code)]
impl Targets {
    /// `value` must be at most `limit`.
    pub fn at_most(&mut self, what: &str, value: f64, limit: f64, unit: &str) {
        // A value not measured (NaN) misses too.
        if !matches!(value.partial_cmp(&limit), Some(Less | Equal)) {
            self.missed.push(format!(
                "{what}: {value:.2} {unit}, target at most {limit} {unit}"
            ));
        }
    }

    /// `value` must be under `limit`.
    pub fn under(&mut self, what: &str, value: f64, limit: f64, unit: &str) {
        if value.partial_cmp(&limit) != Some(Less) {
            self.missed.push(format!(
                "{what}: {value:.2} {unit}, target under {limit} {unit}"
            ));
        }
    }

    /// `value` must be exactly `expected`.
    pub fn equal(&mut self, what: &str, value: u64, expected: u64) {
        if value != expected {
            self.missed
                .push(format!("{what}: {value}, target {expected}"));
        }
    }

    /// A condition that must hold, with what it found when it did not.
    pub fn holds(&mut self, what: &str, ok: bool, found: impl std::fmt::Display) {
        if !ok {
            self.missed.push(format!("{what}: {found}"));
        }
    }

    /// Prints the missed targets and ends the process non-zero if there are any.
    pub fn finish(self, bench: &str) {
        if self.missed.is_empty() {
            return;
        }
        println!();
        println!("**{bench}: {} target(s) missed**", self.missed.len());
        for missed in &self.missed {
            println!("- MISSED {missed}");
            eprintln!("{bench}: missed target: {missed}");
        }
        std::process::exit(1);
    }
}
