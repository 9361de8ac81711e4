//! Cron expressions for schedules: the five fields operators know from crontab (minute,
//! hour, day of month, month, day of week), with lists, ranges, steps, month and day
//! names and the `@daily`-style shorthands. Evaluated in UTC, so that a schedule means
//! the same on every instance and no daylight-saving change skips or repeats a run.

use std::fmt;

/// A checked cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// Vixie cron: when both day fields are restricted, a day matching either runs.
    either_day: bool,
}

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [FieldSpec; 5] = [
    FieldSpec {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    FieldSpec {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    FieldSpec {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    FieldSpec {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    },
    FieldSpec {
        name: "day of week",
        min: 0,
        max: 7,
        names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    },
];

const SHORTHANDS: [(&str, &str); 7] = [
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
];

const MINUTE_MS: i64 = 60_000;
const DAY_MINUTES: i64 = 1440;
/// Far enough for every expression that can match at all (29 February included).
const SEARCH_DAYS: i64 = 366 * 8;

impl Cron {
    pub fn parse(text: &str) -> Result<Cron, String> {
        let text = text.trim();
        let expanded = match SHORTHANDS
            .iter()
            .find(|(short, _)| short.eq_ignore_ascii_case(text))
        {
            Some((_, long)) => *long,
            None if text.starts_with('@') => {
                return Err(format!(
                    "unknown shorthand {text:?}; use @hourly, @daily, @weekly, @monthly or @yearly, or five fields"
                ))
            }
            None => text,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(format!(
                "the cron expression {text:?} has {} field{}; write five: minute hour day-of-month month day-of-week (e.g. \"30 2 * * *\" is 02:30 UTC every day)",
                parts.len(),
                if parts.len() == 1 { "" } else { "s" }
            ));
        }
        let mut sets = [0u64; 5];
        for (index, (part, spec)) in parts.iter().zip(FIELDS.iter()).enumerate() {
            sets[index] = parse_field(part, spec)?;
        }
        // Sunday is 0 and 7.
        let weekdays = ((sets[4] | (sets[4] >> 7)) & 0x7f) as u8;
        let cron = Cron {
            text: text.to_string(),
            minutes: sets[0],
            hours: sets[1] as u32,
            days: sets[2] as u32,
            months: sets[3] as u16,
            weekdays,
            // As cron itself reads it: a day field that starts with `*` (`*`, `*/2`) does
            // not count as restricted, so `*/2 * 1-5` is odd days that are weekdays.
            either_day: !parts[2].starts_with('*') && !parts[4].starts_with('*'),
        };
        if cron.next_after(0).is_none() {
            return Err(format!(
                "the cron expression {text:?} never runs (no such day in any month); check the day of month and the month"
            ));
        }
        Ok(cron)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first whole minute strictly after `after_ms` (milliseconds since the epoch,
    /// UTC) that the expression names, in milliseconds.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let first = after_ms.div_euclid(MINUTE_MS) + 1;
        let start = first.div_euclid(DAY_MINUTES);
        (start..start + SEARCH_DAYS).find_map(|day| {
            // The first day from the minute after `after_ms`, the others from midnight.
            let from = if day == start {
                first.rem_euclid(DAY_MINUTES)
            } else {
                0
            };
            self.day_matches(day)
                .then(|| self.first_minute_from(from))
                .flatten()
                .map(|minute| (day * DAY_MINUTES + minute) * MINUTE_MS)
        })
    }

    fn day_matches(&self, day: i64) -> bool {
        let (_, month, dom) = civil_from_days(day);
        if self.months & (1 << month) == 0 {
            return false;
        }
        // 1970-01-01 was a Thursday.
        let weekday = (day + 4).rem_euclid(7);
        let by_date = self.days & (1 << dom) != 0;
        let by_weekday = self.weekdays & (1 << weekday) != 0;
        if self.either_day {
            by_date || by_weekday
        } else {
            by_date && by_weekday
        }
    }

    fn first_minute_from(&self, from: i64) -> Option<i64> {
        (from..DAY_MINUTES).find(|minute| {
            self.hours & (1 << (minute / 60)) != 0 && self.minutes & (1 << (minute % 60)) != 0
        })
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_field(text: &str, spec: &FieldSpec) -> Result<u64, String> {
    let mut set = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    format!(
                        "the {} step {step:?} in {item:?} is not a whole number above 0",
                        spec.name
                    )
                })?;
                (range, step)
            }
            None => (item, 1),
        };
        let (low, high) = if range == "*" {
            (spec.min, spec.max)
        } else if let Some((low, high)) = range.split_once('-') {
            (value(low, spec)?, value(high, spec)?)
        } else {
            let low = value(range, spec)?;
            // `5/15` runs from 5 to the end of the field.
            (low, if step > 1 { spec.max } else { low })
        };
        if low > high {
            return Err(format!(
                "the {} range {range:?} runs backwards; write the lower value first",
                spec.name
            ));
        }
        for v in (low..=high).step_by(step as usize) {
            set |= 1 << v;
        }
    }
    Ok(set)
}

fn value(text: &str, spec: &FieldSpec) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(index) = spec.names.iter().position(|n| *n == lower) {
        return Ok(index as u32 + if spec.min == 1 { 1 } else { 0 });
    }
    let names = if spec.names.is_empty() {
        String::new()
    } else {
        format!(" or a name ({}…)", spec.names[..3].join(", "))
    };
    let number: u32 = text.parse().map_err(|_| {
        format!(
            "{text:?} is not a {} value; write a number from {} to {}{names}, a range a-b, a list a,b or a step */n",
            spec.name, spec.min, spec.max
        )
    })?;
    if number < spec.min || number > spec.max {
        return Err(format!(
            "the {} value {number} is out of range; it runs from {} to {}",
            spec.name, spec.min, spec.max
        ));
    }
    Ok(number)
}

/// Year, month and day of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Milliseconds of a UTC date and time.
    fn at(y: i64, mo: u32, d: u32, h: i64, mi: i64) -> i64 {
        let days = (0..1_000_000i64)
            .map(|n| n - 500_000)
            .find(|n| civil_from_days(*n) == (y, mo, d))
            .unwrap();
        (days * DAY_MINUTES + h * 60 + mi) * MINUTE_MS
    }

    fn next(expr: &str, after: i64) -> i64 {
        Cron::parse(expr).unwrap().next_after(after).unwrap()
    }

    #[test]
    fn calendar_days_come_out_right() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_790), (2026, 12, 3));
    }

    #[test]
    fn next_run_follows_each_field() {
        let now = at(2026, 12, 3, 10, 17);
        assert_eq!(next("*/15 * * * *", now), at(2026, 12, 3, 10, 30));
        assert_eq!(next("30 2 * * *", now), at(2026, 12, 4, 2, 30));
        assert_eq!(next("0 0 1 * *", now), at(2027, 1, 1, 0, 0));
        // 2026-12-03 is a Thursday: the next Monday is the 7th.
        assert_eq!(next("0 9 * * mon", now), at(2026, 12, 7, 9, 0));
        assert_eq!(next("0 9 * * 1-5", now), at(2026, 12, 4, 9, 0));
        assert_eq!(next("0 0 29 feb *", now), at(2028, 2, 29, 0, 0));
        assert_eq!(next("@hourly", now), at(2026, 12, 3, 11, 0));
        // Sunday as 7 and as 0.
        assert_eq!(next("0 0 * * 7", now), next("0 0 * * sun", now));
        // Strictly after: a run at this very minute is the next one's start.
        assert_eq!(next("17 10 * * *", now), at(2026, 12, 4, 10, 17));
        assert_eq!(next("17 10 * * *", now - 1), now);
    }

    #[test]
    fn both_day_fields_restricted_means_either() {
        // The 15th (a Tuesday) or any Friday: Friday the 4th comes first.
        let now = at(2026, 12, 3, 12, 0);
        assert_eq!(next("0 0 15 * fri", now), at(2026, 12, 4, 0, 0));
        assert_eq!(
            next("0 0 15 * fri", at(2026, 12, 12, 0, 0)),
            at(2026, 12, 15, 0, 0)
        );
    }

    #[test]
    fn a_stepped_star_day_field_narrows_instead_of_widening() {
        // Odd days that are weekdays: 2026-12-03 (Thu), then not the 5th (Sat) nor the
        // 7th... the 7th is a Monday and odd.
        let thursday = at(2026, 12, 3, 12, 0);
        assert_eq!(next("0 3 */2 * 1-5", thursday), at(2026, 12, 7, 3, 0));
        // Not every weekday (the 4th is a Friday, but even) nor every odd day (the 5th is
        // a Saturday).
        let runs: Vec<i64> =
            std::iter::successors(Some(thursday), |t| Some(next("0 3 */2 * 1-5", *t)))
                .skip(1)
                .take(6)
                .collect();
        let expected = [
            at(2026, 12, 7, 3, 0),
            at(2026, 12, 9, 3, 0),
            at(2026, 12, 11, 3, 0),
            at(2026, 12, 15, 3, 0),
            at(2026, 12, 17, 3, 0),
            at(2026, 12, 21, 3, 0),
        ];
        assert_eq!(runs, expected);
        // With a plain day of month both restricted: either.
        assert_eq!(next("0 3 1-31/2 * 1-5", thursday), at(2026, 12, 4, 3, 0));
    }

    #[test]
    fn bad_expressions_say_what_to_write() {
        let cases = [
            ("* * * *", "has 4 fields; write five"),
            (
                "61 * * * *",
                "minute value 61 is out of range; it runs from 0 to 59",
            ),
            ("0 25 * * *", "hour value 25 is out of range"),
            ("*/0 * * * *", "step \"0\""),
            ("0 0 * foo *", "\"foo\" is not a month value"),
            ("0 0 10-5 * *", "runs backwards"),
            ("0 0 31 2 *", "never runs"),
            ("@often", "unknown shorthand"),
            ("", "has 0 fields"),
        ];
        for (expr, expected) in cases {
            let error = Cron::parse(expr).unwrap_err();
            assert!(error.contains(expected), "{expr:?}: {error}");
        }
    }

    #[test]
    fn lists_ranges_and_steps_combine() {
        let cron = Cron::parse("5,10-12,50/5 */6 * jan-mar,dec *").unwrap();
        assert_eq!(
            cron.minutes,
            (1 << 5) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 50) | (1 << 55)
        );
        assert_eq!(cron.hours, (1 << 0) | (1 << 6) | (1 << 12) | (1 << 18));
        assert_eq!(cron.months, (1 << 1) | (1 << 2) | (1 << 3) | (1 << 12));
        assert_eq!(cron.as_str(), "5,10-12,50/5 */6 * jan-mar,dec *");
    }
}
