//! The takeover of a NetBox another tool (or an operator) filled, as a run reports it: per
//! kind of object, what was adopted and by which rule, created, updated, deleted, and
//! every conflict. A dry run's report is the preview; the real run's says what it did, and
//! the two are built alike from the same `item_progress` events.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::events::{ItemProgress, ItemStatus, Takeover};

/// One object another tool or an operator made, taken over.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Adoption {
    /// The item `type` (`qemu`, `interface`, `ip`…).
    pub kind: String,
    pub name: String,
    pub netbox_id: Option<u64>,
    /// The rule in words (`by MAC address on its VM`).
    pub rule: String,
}

/// One object left alone because of more than one candidate, or a holder of another kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Conflict {
    pub kind: String,
    pub name: String,
    pub why: String,
}

/// The counts of one kind of object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCounts {
    pub adopted: u64,
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub conflicts: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakeoverReport {
    /// Per item kind.
    pub kinds: BTreeMap<String, KindCounts>,
    pub adoptions: Vec<Adoption>,
    pub conflicts: Vec<Conflict>,
}

impl TakeoverReport {
    /// Counts one item's outcome. An update that adopts counts as an adoption only; the
    /// objects left unchanged are not counted.
    pub fn tally(&mut self, item: &ItemProgress) {
        // Folded for every event of every job's log: the kind is copied once per kind,
        // not once per event.
        if !self.kinds.contains_key(&item.kind) {
            self.kinds.insert(item.kind.clone(), KindCounts::default());
        }
        let counts = self.kinds.get_mut(&item.kind).expect("just made sure");
        match &item.takeover {
            Some(Takeover::Adopted(rule)) if item.status != ItemStatus::Failed => {
                counts.adopted += 1;
                self.adoptions.push(Adoption {
                    kind: item.kind.clone(),
                    name: item.name.clone(),
                    netbox_id: item.id,
                    rule: rule.clone(),
                });
            }
            Some(Takeover::Conflict(why)) => {
                counts.conflicts += 1;
                self.conflicts.push(Conflict {
                    kind: item.kind.clone(),
                    name: item.name.clone(),
                    why: why.clone(),
                });
            }
            _ => match item.status {
                ItemStatus::Created | ItemStatus::WouldCreate => counts.created += 1,
                ItemStatus::Updated | ItemStatus::WouldUpdate => counts.updated += 1,
                ItemStatus::Deleted | ItemStatus::WouldDelete => counts.deleted += 1,
                ItemStatus::Failed => counts.failed += 1,
                ItemStatus::Skipped => {}
            },
        }
    }

    /// The report of a run's events.
    pub fn of<'e>(items: impl IntoIterator<Item = &'e ItemProgress>) -> TakeoverReport {
        let mut report = TakeoverReport::default();
        for item in items {
            report.tally(item);
        }
        report.finished()
    }

    /// In a stable order, without the kinds that had nothing to count.
    pub fn finished(mut self) -> TakeoverReport {
        self.kinds.retain(|_, c| *c != KindCounts::default());
        self.adoptions.sort();
        self.conflicts.sort();
        self
    }

    /// Whether the run found anything it did not make: adopted or in conflict.
    pub fn took_over_anything(&self) -> bool {
        !self.adoptions.is_empty() || !self.conflicts.is_empty()
    }

    /// How many objects were adopted by each rule.
    pub fn by_rule(&self) -> BTreeMap<&str, u64> {
        let mut rules = BTreeMap::new();
        for adoption in &self.adoptions {
            *rules.entry(adoption.rule.as_str()).or_default() += 1;
        }
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Item, Progress};

    fn item(
        kind: &str,
        name: &str,
        status: ItemStatus,
        takeover: Option<Takeover>,
    ) -> ItemProgress {
        ItemProgress {
            event: "item_progress".into(),
            phase: "p".into(),
            name: name.into(),
            kind: kind.into(),
            status,
            operation: status,
            message: String::new(),
            item: Item::new(name, kind),
            progress: Progress::new(1, 1),
            id: Some(7),
            error: None,
            warning: None,
            timing: None,
            takeover,
        }
    }

    #[test]
    fn adoptions_conflicts_and_plain_writes_are_told_apart() {
        let adopted = |rule: &str| Some(Takeover::Adopted(rule.into()));
        let items = [
            item(
                "qemu",
                "web",
                ItemStatus::WouldUpdate,
                adopted("by name in its cluster"),
            ),
            item("qemu", "db", ItemStatus::WouldCreate, None),
            item(
                "qemu",
                "app",
                ItemStatus::Skipped,
                Some(Takeover::Conflict("two".into())),
            ),
            item("qemu", "old", ItemStatus::Skipped, None),
            item(
                "interface",
                "web/net0",
                ItemStatus::Updated,
                adopted("by MAC address on its VM"),
            ),
            item(
                "interface",
                "db/net0",
                ItemStatus::Failed,
                adopted("by MAC address on its VM"),
            ),
        ];
        let report = TakeoverReport::of(&items);
        assert_eq!(
            report.kinds["qemu"],
            KindCounts {
                adopted: 1,
                created: 1,
                conflicts: 1,
                ..KindCounts::default()
            }
        );
        assert_eq!(report.kinds["interface"].adopted, 1);
        assert_eq!(
            report.kinds["interface"].failed, 1,
            "a failed adoption is a failure"
        );
        assert_eq!(report.adoptions.len(), 2);
        assert_eq!(report.conflicts[0].name, "app");
        assert_eq!(report.by_rule()["by name in its cluster"], 1);
        assert!(report.took_over_anything());
        assert!(!TakeoverReport::of(&items[1..2]).took_over_anything());
    }
}
