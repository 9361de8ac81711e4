//! The server's recent log lines as the logs page shows them, and its filter.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Rises by one per line since the process started: a live view resumes after it.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub level: String,
    /// The module that logged it (`proxbox::server::jobs::worker`).
    pub target: String,
    /// The message and its fields (`job ended job=3 status="completed"`).
    pub message: String,
}

impl LogLine {
    /// The line as the logs page's live stream carries it: `seq`, `at`, level and target
    /// separated by tabs, then the message (which may hold tabs and line breaks).
    pub fn to_wire(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}",
            self.seq, self.at, self.level, self.target, self.message
        )
    }

    pub fn from_wire(text: &str) -> Option<LogLine> {
        let mut parts = text.splitn(5, '\t');
        Some(LogLine {
            seq: parts.next()?.parse().ok()?,
            at: parts.next()?.parse().ok()?,
            level: parts.next()?.to_string(),
            target: parts.next()?.to_string(),
            message: parts.next()?.to_string(),
        })
    }
}

/// `?level=` (the least severe level shown) and `?target=` (a part of the target).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerLogFilter {
    #[serde(default)]
    pub level: String,
    #[serde(default)]
    pub target: String,
}

/// The levels, most severe first.
pub const LOG_LEVELS: [&str; 5] = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

fn severity(level: &str) -> usize {
    LOG_LEVELS
        .iter()
        .position(|l| l.eq_ignore_ascii_case(level))
        .unwrap_or(LOG_LEVELS.len())
}

impl ServerLogFilter {
    pub fn admits(&self, line: &LogLine) -> bool {
        let level_ok =
            self.level.trim().is_empty() || severity(&line.level) <= severity(&self.level);
        let target = self.target.trim();
        level_ok && (target.is_empty() || line.target.contains(target))
    }

    /// The query string of this filter (for the live stream's address).
    pub fn query(&self) -> String {
        let encode = |s: &str| {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b':' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        };
        format!(
            "level={}&target={}",
            encode(self.level.trim()),
            encode(self.target.trim())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(level: &str, target: &str) -> LogLine {
        LogLine {
            seq: 1,
            at: 0,
            level: level.into(),
            target: target.into(),
            message: "m".into(),
        }
    }

    #[test]
    fn a_line_goes_over_the_wire_and_back_with_tabs_and_breaks_in_its_message() {
        let line = LogLine {
            seq: 42,
            at: 1_796_414_657_843,
            level: "WARN".into(),
            target: "proxbox::server::cli".into(),
            message: "two\tparts\nand a second line".into(),
        };
        assert_eq!(LogLine::from_wire(&line.to_wire()), Some(line));
        assert_eq!(LogLine::from_wire("not a line"), None);
    }

    #[test]
    fn a_level_shows_itself_and_what_is_more_severe_and_a_target_matches_a_part() {
        let warn = ServerLogFilter {
            level: "warn".into(),
            target: String::new(),
        };
        assert!(warn.admits(&line("ERROR", "a")));
        assert!(warn.admits(&line("WARN", "a")));
        assert!(!warn.admits(&line("INFO", "a")));
        let jobs = ServerLogFilter {
            level: String::new(),
            target: "jobs::worker".into(),
        };
        assert!(jobs.admits(&line("DEBUG", "proxbox::server::jobs::worker")));
        assert!(!jobs.admits(&line("INFO", "proxbox::server::cli")));
        assert_eq!(jobs.query(), "level=&target=jobs::worker");
        let odd = ServerLogFilter {
            level: "info".into(),
            target: "a b&c".into(),
        };
        assert_eq!(odd.query(), "level=info&target=a%20b%26c");
    }
}
