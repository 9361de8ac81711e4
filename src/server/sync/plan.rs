//! A stage's plan: what it would create, update (with the fields that change), delete,
//! skip (with why) and could not do, computed by a pure function of what the stage read.
//! `apply` writes any plan the same way, so a dry run and a real run report alike.

use serde::Serialize;

use super::failure::StageError;
use crate::events::{ErrorCategory, Takeover};

/// How an object appears in its `item_progress` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub name: String,
    /// The item `type` (`node`, `qemu`, `disk`…).
    pub kind: String,
    /// The object in words, for messages (`virtual machine`).
    pub what: &'static str,
    /// Fields that could not be read from Proxmox and were left out, or why an object was
    /// left alone.
    pub warning: Option<String>,
    /// What the plan knows of why NetBox could refuse this write (an address another
    /// object holds): reported instead of NetBox's bare validation error if it does.
    pub if_refused: Option<StageError>,
    /// Set when the object is another tool's or an operator's: taken over by a rule, or
    /// left alone over a conflict.
    pub takeover: Option<Takeover>,
}

impl Label {
    pub fn new(name: impl Into<String>, kind: impl Into<String>, what: &'static str) -> Label {
        Label {
            name: name.into(),
            kind: kind.into(),
            what,
            warning: None,
            if_refused: None,
            takeover: None,
        }
    }

    /// The error to report when NetBox refuses this write: the plan's explanation of a
    /// validation refusal (with NetBox's words as its detail), else NetBox's error.
    pub fn refusal(&self, error: StageError) -> StageError {
        match &self.if_refused {
            Some(explained) if error.category == ErrorCategory::Validation => StageError {
                detail: format!("{} NetBox: {}", explained.detail, error.message),
                ..explained.clone()
            },
            _ => error,
        }
    }

    pub fn warned(mut self, warning: Option<String>) -> Label {
        self.warning = warning;
        self
    }

    /// Marks an object found by `rule` (words: `by MAC address`) that Proxbox did not make.
    pub fn adopted(mut self, rule: impl Into<String>) -> Label {
        self.takeover = Some(Takeover::Adopted(rule.into()));
        self
    }

    /// Marks an object left alone because `why` (words naming the candidates).
    pub fn conflict(mut self, why: impl Into<String>) -> Label {
        let why = why.into();
        self.warning = Some(format!("conflict: {why}; nothing taken"));
        self.takeover = Some(Takeover::Conflict(why));
        self
    }
}

/// One planned write: what to send, for an update the id it goes to and the fields it
/// changes, and the stage's own key to find the outcome again (`()` when none is needed).
#[derive(Debug, Clone, PartialEq)]
pub struct Write<W, K = ()> {
    pub key: K,
    pub label: Label,
    pub id: Option<u64>,
    pub body: W,
    /// The NetBox fields an update changes, by name; empty for a create.
    pub changed: Vec<String>,
}

/// An object left as it is: unchanged, or left alone for the reason its label's warning
/// gives (an address held by an object Proxbox does not manage…).
#[derive(Debug, Clone, PartialEq)]
pub struct Skip<K = ()> {
    /// The stage's key when the object is one of its own (an address held by someone else
    /// has none).
    pub key: Option<K>,
    pub label: Label,
    pub id: Option<u64>,
}

/// An object the stage cannot write (its config unreadable, its cluster refused).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub label: Label,
    pub id: Option<u64>,
    pub error: StageError,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan<W, K = ()> {
    /// The objects in words, for the chunk substeps (`VM interfaces`).
    pub what: &'static str,
    pub creates: Vec<Write<W, K>>,
    pub updates: Vec<Write<W, K>>,
    /// Updates that complete objects created a moment ago (an interface's primary MAC,
    /// which needs the MAC's id): part of the create its item already reported.
    pub links: Vec<Write<W, K>>,
    pub deletes: Vec<(Label, u64)>,
    pub skips: Vec<Skip<K>>,
    pub failures: Vec<Failure>,
}

/// The fields a write body sets besides its id: what an update changes. Write bodies leave
/// out every field they do not set (NetBox leaves those alone), so the JSON names them.
pub fn set_fields<W: Serialize>(body: &W) -> Vec<String> {
    match serde_json::to_value(body) {
        Ok(serde_json::Value::Object(fields)) => {
            let mut names: Vec<String> = fields
                .into_iter()
                .map(|(k, _)| k)
                .filter(|k| k != "id")
                .collect();
            names.sort();
            names
        }
        _ => Vec::new(),
    }
}

impl<W: Serialize, K> Plan<W, K> {
    pub fn new(what: &'static str) -> Plan<W, K> {
        Plan {
            what,
            creates: Vec::new(),
            updates: Vec::new(),
            links: Vec::new(),
            deletes: Vec::new(),
            skips: Vec::new(),
            failures: Vec::new(),
        }
    }

    pub fn create(&mut self, key: K, label: Label, body: W) {
        self.creates.push(Write {
            key,
            label,
            id: None,
            body,
            changed: Vec::new(),
        });
    }

    /// An update of object `id` to `patch`, or a skip when the patch changes nothing.
    /// Returns whether it is an update.
    pub fn update(&mut self, key: K, label: Label, id: u64, patch: W) -> bool {
        let changed = set_fields(&patch);
        if changed.is_empty() {
            self.skip(key, label, id);
            return false;
        }
        self.updates.push(Write {
            key,
            label,
            id: Some(id),
            body: patch,
            changed,
        });
        true
    }

    pub fn link(&mut self, key: K, label: Label, id: u64, patch: W) {
        self.links.push(Write {
            key,
            label,
            id: Some(id),
            changed: set_fields(&patch),
            body: patch,
        });
    }

    pub fn delete(&mut self, label: Label, id: u64) {
        self.deletes.push((label, id));
    }

    /// One of the stage's objects, left as it is.
    pub fn skip(&mut self, key: K, label: Label, id: u64) {
        self.skips.push(Skip {
            key: Some(key),
            label,
            id: Some(id),
        });
    }

    /// Something the stage leaves alone for the reason the label's warning gives.
    pub fn leave(&mut self, label: Label, id: Option<u64>) {
        self.skips.push(Skip {
            key: None,
            label,
            id,
        });
    }

    pub fn fail(&mut self, label: Label, id: Option<u64>, error: StageError) {
        self.failures.push(Failure { label, id, error });
    }

    /// Whether applying the plan writes nothing.
    pub fn writes_nothing(&self) -> bool {
        self.creates.is_empty()
            && self.updates.is_empty()
            && self.links.is_empty()
            && self.deletes.is_empty()
    }

    /// The objects the plan reports an item for.
    pub fn items(&self) -> usize {
        self.creates.len()
            + self.updates.len()
            + self.deletes.len()
            + self.skips.len()
            + self.failures.len()
    }

    /// `3 VM interfaces to create, 1 to update, 0 to remove`.
    pub fn summary(&self) -> String {
        format!(
            "{} {} to create, {} to update, {} to remove",
            self.creates.len(),
            self.what,
            self.updates.len(),
            self.deletes.len()
        )
    }
}

/// Ids from here up stand for objects a dry run would create; NetBox ids never get there.
pub const PLANNED_ID_BASE: u64 = 1 << 52;

pub fn is_planned(id: u64) -> bool {
    id >= PLANNED_ID_BASE
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxbox_netbox::models::VirtualMachineWrite;

    #[test]
    fn an_update_that_changes_nothing_is_a_skip() {
        let mut plan: Plan<VirtualMachineWrite> = Plan::new("virtual machines");
        let label = Label::new("web", "qemu", "virtual machine");
        let nothing = VirtualMachineWrite {
            id: Some(7),
            ..Default::default()
        };
        assert!(!plan.update((), label.clone(), 7, nothing));
        assert_eq!(plan.skips.len(), 1);
        assert!(plan.writes_nothing());
        let memory = VirtualMachineWrite {
            id: Some(7),
            memory: Some(4096),
            status: Some("active".into()),
            ..Default::default()
        };
        assert!(plan.update((), label, 7, memory));
        assert_eq!(plan.updates[0].changed, ["memory", "status"]);
        assert_eq!(plan.items(), 2);
        assert!(!plan.writes_nothing());
    }
}
