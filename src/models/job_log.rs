//! One page of a job's event log and the filters that choose it. A job of a large
//! cluster logs hundreds of thousands of events, so a view never carries the whole log:
//! the server reads it in chunks and keeps only the page asked for.

use serde::{Deserialize, Serialize};

use crate::events::{ItemStatus, SyncEvent};

/// Events per page of the job page's log.
pub const LOG_PAGE_SIZE: u64 = 200;

/// What the log shows: `?stage=`, `?status=`, `?failures=1` and `?page=` of the job page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFilter {
    pub stage: String,
    pub status: String,
    pub failures: bool,
    /// 1-based; `None` is the last page (the latest events).
    pub page: Option<u64>,
}

impl LogFilter {
    /// Whether the filter lets every event through (paging aside).
    pub fn is_empty(&self) -> bool {
        self.stage.is_empty() && self.status.is_empty() && !self.failures
    }

    pub fn matches(&self, event: &SyncEvent) -> bool {
        if self.failures && !is_failure(event) {
            return false;
        }
        // The filter is read for every event of a long log: nothing is copied for it.
        (self.stage.is_empty() || stage_of(event).unwrap_or_default() == self.stage)
            && (self.status.is_empty() || status_of(event) == self.status)
    }

    /// The query string that shows `page` of this filter.
    pub fn page_query(&self, page: u64) -> String {
        let mut query = format!("?page={page}");
        for (name, value) in [("stage", &self.stage), ("status", &self.status)] {
            if !value.is_empty() {
                query.push_str(&format!("&{name}={}", encode_query_value(value)));
            }
        }
        if self.failures {
            query.push_str("&failures=1");
        }
        query
    }
}

fn encode_query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One page of a job's log, as the job page shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogPage {
    /// `(seq, event)` in log order.
    pub rows: Vec<(i64, SyncEvent)>,
    /// The stages the whole log mentions, for the stage filter.
    pub stages: Vec<String>,
    /// Events that pass the filter, on every page.
    pub matching: u64,
    /// Events in the log.
    pub total: u64,
    /// 1-based, of `pages`.
    pub page: u64,
    pub pages: u64,
}

impl LogPage {
    /// How many pages `matching` events fill (one, if empty).
    pub fn page_count(matching: u64) -> u64 {
        matching.div_ceil(LOG_PAGE_SIZE).max(1)
    }

    /// The page `asked` (the last if `None`), kept within `1..=pages`.
    pub fn clamp_page(asked: Option<u64>, pages: u64) -> u64 {
        asked.unwrap_or(pages).clamp(1, pages)
    }
}

/// What an event is about and how it went: (stage, status, message), for the log table.
pub fn describe(event: &SyncEvent) -> (String, String, String) {
    (
        stage_of(event).unwrap_or_default().to_string(),
        status_of(event),
        message_of(event).to_string(),
    )
}

/// The stage an event belongs to, if any (without cloning its message).
pub fn stage_of(event: &SyncEvent) -> Option<&str> {
    let stage = match event {
        SyncEvent::Discovery(d) => &d.phase,
        SyncEvent::Step(s) => &s.step,
        SyncEvent::Substep(s) => &s.phase,
        SyncEvent::ItemProgress(p) => &p.phase,
        SyncEvent::PhaseSummary(p) => &p.phase,
        SyncEvent::ErrorDetail(d) => &d.phase,
        SyncEvent::Error(e) => &e.step,
        SyncEvent::Complete(_) => return None,
    };
    (!stage.is_empty()).then_some(stage.as_str())
}

/// How an event went, as the log's status column and the status filter name it.
pub fn status_of(event: &SyncEvent) -> String {
    match event {
        SyncEvent::Discovery(d) => d.status.clone(),
        SyncEvent::Step(s) => format!("{:?}", s.status).to_lowercase(),
        SyncEvent::Substep(s) => format!("{:?}", s.status).to_lowercase(),
        SyncEvent::ItemProgress(p) => p.status.as_str().to_string(),
        SyncEvent::PhaseSummary(p) => format!("{:?}", p.status).to_lowercase(),
        SyncEvent::ErrorDetail(d) => d.category.as_str().to_string(),
        SyncEvent::Error(e) => e.status.clone(),
        SyncEvent::Complete(c) => if c.ok { "ok" } else { "failed" }.to_string(),
    }
}

fn message_of(event: &SyncEvent) -> &str {
    match event {
        SyncEvent::Discovery(d) => &d.message,
        SyncEvent::Step(s) => &s.message,
        SyncEvent::Substep(s) => &s.message,
        SyncEvent::ItemProgress(p) => &p.message,
        SyncEvent::PhaseSummary(p) => &p.message,
        SyncEvent::ErrorDetail(d) => &d.message,
        SyncEvent::Error(e) => &e.error,
        SyncEvent::Complete(c) => &c.message,
    }
}

pub fn is_failure(event: &SyncEvent) -> bool {
    match event {
        SyncEvent::ItemProgress(p) => p.status == ItemStatus::Failed,
        SyncEvent::ErrorDetail(_) | SyncEvent::Error(_) => true,
        SyncEvent::Complete(c) => !c.ok,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_counted_and_clamped() {
        assert_eq!(LogPage::page_count(0), 1);
        assert_eq!(LogPage::page_count(LOG_PAGE_SIZE), 1);
        assert_eq!(LogPage::page_count(LOG_PAGE_SIZE + 1), 2);
        assert_eq!(LogPage::clamp_page(None, 3), 3);
        assert_eq!(LogPage::clamp_page(Some(0), 3), 1);
        assert_eq!(LogPage::clamp_page(Some(9), 3), 3);
    }

    #[test]
    fn page_links_keep_the_filter_and_escape_it() {
        let filter = LogFilter {
            stage: "virtual-machines".into(),
            status: "a b&c".into(),
            failures: true,
            page: Some(2),
        };
        assert_eq!(
            filter.page_query(3),
            "?page=3&stage=virtual-machines&status=a%20b%26c&failures=1"
        );
        assert_eq!(LogFilter::default().page_query(1), "?page=1");
    }
}
