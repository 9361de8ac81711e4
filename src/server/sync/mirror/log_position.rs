//! Where the copy stands in NetBox's change log: the entry below which everything is
//! folded in (settled), and the ranges above it already read, which settle once no slow
//! transaction can still commit an entry between them; and the newest entry followed, to
//! know the log again (a restored NetBox reuses entry ids).

use proxbox_netbox::Change;

/// A transaction in NetBox can commit change log entries below ids already read for at most
/// this long (NetBox's requests time out well before); entries read longer ago settle.
const SETTLE_AFTER_MS: i64 = 10 * 60 * 1000;

/// More unread ids below the newest folded entry than this: read the whole tail instead.
pub(super) const MOST_GAPS: usize = 500;

/// The ids above `settled` and below the newest folded entry that no range holds (at most
/// `limit` of them): entries a transaction may still commit.
pub(super) fn unread_ids(settled: u64, recent: &[(u64, u64, i64)], limit: usize) -> Vec<u64> {
    let mut ranges: Vec<(u64, u64)> = recent.iter().map(|(from, to, _)| (*from, *to)).collect();
    ranges.sort_unstable();
    let mut unread = Vec::new();
    let mut next = settled + 1;
    for (from, to) in ranges {
        while next < from && unread.len() < limit {
            unread.push(next);
            next += 1;
        }
        next = next.max(to + 1);
    }
    unread
}

/// Adds the ids read at `now` as ranges of consecutive ids.
pub(super) fn add_ranges(recent: &mut Vec<(u64, u64, i64)>, ids: &[u64], now: i64) {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    for id in sorted {
        match recent.last_mut() {
            Some((_, to, at)) if *at == now && *to + 1 == id => *to = id,
            _ => recent.push((id, id, now)),
        }
    }
}

/// Moves the settled position past every range read long enough ago: whatever a slow
/// transaction could still add below it has committed since and was read now.
pub(super) fn settle(
    settled: u64,
    recent: &[(u64, u64, i64)],
    now: i64,
) -> (u64, Vec<(u64, u64, i64)>) {
    let settled = recent
        .iter()
        .filter(|(_, _, at)| now - at >= SETTLE_AFTER_MS)
        .map(|(_, to, _)| *to)
        .fold(settled, u64::max);
    let recent = recent
        .iter()
        .copied()
        .filter(|(_, to, _)| *to > settled)
        .collect();
    (settled, recent)
}

/// A change log entry as the copy remembers it, to know it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CursorEntry {
    pub(super) id: u64,
    time: String,
}

impl CursorEntry {
    pub(super) fn of(change: &Change) -> Option<CursorEntry> {
        Some(CursorEntry {
            id: change.id,
            time: change.time.clone()?,
        })
    }

    pub(super) fn parse(text: &str) -> Option<CursorEntry> {
        let (id, time) = text.split_once(' ')?;
        Some(CursorEntry {
            id: id.parse().ok()?,
            time: time.to_string(),
        })
    }

    pub(super) fn text(&self) -> String {
        format!("{} {}", self.id, self.time)
    }

    /// Moves on to the newest of `changes`.
    pub(super) fn newest(current: Option<CursorEntry>, changes: &[Change]) -> Option<CursorEntry> {
        let newest = changes
            .iter()
            .max_by_key(|c| c.id)
            .and_then(CursorEntry::of);
        match (current, newest) {
            (Some(current), Some(newest)) if current.id > newest.id => Some(current),
            (current, None) => current,
            (_, newest) => newest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_settle_only_after_a_slow_transaction_could_have_committed() {
        let mut recent = Vec::new();
        add_ranges(&mut recent, &[12, 10, 11, 15], 1_000);
        assert_eq!(recent, vec![(10, 12, 1_000), (15, 15, 1_000)]);
        add_ranges(&mut recent, &[13], 2_000);
        let (settled, kept) = settle(9, &recent, 1_000 + SETTLE_AFTER_MS - 1);
        assert_eq!((settled, kept.len()), (9, 3), "nothing settles early");
        let (settled, kept) = settle(9, &recent, 1_000 + SETTLE_AFTER_MS);
        assert_eq!(settled, 15);
        assert!(
            kept.is_empty(),
            "13 lies below the settled position: {kept:?}"
        );
    }

    #[test]
    fn only_the_gaps_between_folded_entries_are_asked_again() {
        let recent = [(15, 20, 1), (11, 12, 2), (22, 22, 3)];
        assert_eq!(unread_ids(9, &recent, 100), vec![10, 13, 14, 21]);
        assert_eq!(unread_ids(9, &recent, 2), vec![10, 13]);
        assert_eq!(unread_ids(22, &[], 100), Vec::<u64>::new());
    }
}
