//! Which NetBox fields a sync may overwrite on objects that already exist. Operators edit
//! NetBox by hand; Proxbox must not undo that except where it owns the field.
//!
//! Defaults (docs/syncing.md): Proxbox owns status, vCPUs, memory, disk, interfaces and
//! addresses; it sets role, site, tenant and description only when it creates the object.
//! Of the fields NetBox 4.7 added, Proxmox owns the VM type, start on boot, the serial and
//! the comments (a guest's Proxmox notes). Tags are merged, never replaced: `tags` decides
//! whether Proxmox's tags are kept in step after creation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Name,
    Status,
    Vcpus,
    Memory,
    Disk,
    Interfaces,
    Addresses,
    Role,
    Site,
    Tenant,
    Description,
    Platform,
    Device,
    VmType,
    StartOnBoot,
    Serial,
    Comments,
    Tags,
    /// The DNS name of a guest's primary addresses: the agent's fully qualified host name.
    DnsName,
}

impl Field {
    pub const ALL: [Field; 19] = [
        Field::Name,
        Field::Status,
        Field::Vcpus,
        Field::Memory,
        Field::Disk,
        Field::Interfaces,
        Field::Addresses,
        Field::Role,
        Field::Site,
        Field::Tenant,
        Field::Description,
        Field::Platform,
        Field::Device,
        Field::VmType,
        Field::StartOnBoot,
        Field::Serial,
        Field::Comments,
        Field::Tags,
        Field::DnsName,
    ];

    /// The name operators write in the rules (`vm_type`, `start_on_boot`…).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overwrite {
    /// Proxmox is the source of truth: a differing NetBox value is corrected on every sync.
    Always,
    /// Written when Proxbox creates the object, never changed afterwards.
    OnCreate,
}

impl Overwrite {
    pub const ALL: [Overwrite; 2] = [Overwrite::Always, Overwrite::OnCreate];

    pub fn name(self) -> &'static str {
        match self {
            Overwrite::Always => "always",
            Overwrite::OnCreate => "on_create",
        }
    }
}

/// The overwrite rule per field; fields not listed follow [`Overwrite::Always`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverwritePolicy(pub BTreeMap<Field, Overwrite>);

impl Default for OverwritePolicy {
    fn default() -> Self {
        const ON_CREATE: [Field; 4] = [Field::Role, Field::Site, Field::Tenant, Field::Description];
        OverwritePolicy(
            Field::ALL
                .into_iter()
                .map(|field| {
                    let rule = if ON_CREATE.contains(&field) {
                        Overwrite::OnCreate
                    } else {
                        Overwrite::Always
                    };
                    (field, rule)
                })
                .collect(),
        )
    }
}

impl OverwritePolicy {
    /// The defaults with the operator's changes, written `field=rule` separated by commas
    /// (`description=always,status=on_create`); an empty text is the defaults.
    pub fn parse(text: &str) -> Result<OverwritePolicy, String> {
        let mut policy = OverwritePolicy::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, rule) = part.split_once('=').ok_or_else(|| {
                format!("overwrite rule {part:?} is not field=rule (e.g. description=always)")
            })?;
            let field: Field =
                serde_json::from_value(serde_json::json!(field.trim())).map_err(|_| {
                    let names: Vec<String> = Field::ALL.iter().map(|f| f.name()).collect();
                    format!(
                        "unknown field {:?} in the overwrite rules; the fields are {}",
                        field.trim(),
                        names.join(", ")
                    )
                })?;
            let rule: Overwrite = serde_json::from_value(serde_json::json!(rule
                .trim()
                .replace('-', "_")))
            .map_err(|_| {
                format!(
                    "unknown overwrite rule {:?} for {field:?}; use always or on_create",
                    rule.trim()
                )
            })?;
            policy.0.insert(field, rule);
        }
        Ok(policy)
    }

    /// The rules that differ from the defaults, as [`OverwritePolicy::parse`] reads them;
    /// empty for the defaults.
    pub fn to_text(&self) -> String {
        let defaults = OverwritePolicy::default();
        Field::ALL
            .into_iter()
            .filter(|field| self.rule(*field) != defaults.rule(*field))
            .map(|field| format!("{}={}", field.name(), self.rule(field).name()))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn rule(&self, field: Field) -> Overwrite {
        self.0.get(&field).copied().unwrap_or(Overwrite::Always)
    }

    /// The value to send for `field` of an existing object: `Some(desired)` when Proxbox owns
    /// the field and NetBox holds something else, `None` to leave NetBox's value alone.
    pub fn update<T: PartialEq>(&self, field: Field, current: &T, desired: T) -> Option<T> {
        (self.rule(field) == Overwrite::Always && *current != desired).then_some(desired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec() {
        let policy = OverwritePolicy::default();
        for owned in [
            Field::Status,
            Field::Vcpus,
            Field::Memory,
            Field::Disk,
            Field::Interfaces,
            Field::Addresses,
        ] {
            assert_eq!(policy.rule(owned), Overwrite::Always, "{owned:?}");
        }
        for on_create in [Field::Role, Field::Site, Field::Tenant, Field::Description] {
            assert_eq!(policy.rule(on_create), Overwrite::OnCreate, "{on_create:?}");
        }
    }

    #[test]
    fn only_owned_and_differing_fields_are_written() {
        let policy = OverwritePolicy::default();
        assert_eq!(
            policy.update(Field::Memory, &Some(2048u64), Some(4096)),
            Some(Some(4096))
        );
        assert_eq!(
            policy.update(Field::Memory, &Some(4096u64), Some(4096)),
            None,
            "equal: nothing to write"
        );
        assert_eq!(
            policy.update(
                Field::Description,
                &"edited by an operator".to_string(),
                "from Proxmox".to_string()
            ),
            None,
            "description is set on create only"
        );
    }

    #[test]
    fn rules_parse_from_the_setting_and_bad_ones_say_what_is_allowed() {
        assert_eq!(
            OverwritePolicy::parse("").unwrap(),
            OverwritePolicy::default()
        );
        let policy = OverwritePolicy::parse(" description=always , status=on-create").unwrap();
        assert_eq!(policy.rule(Field::Description), Overwrite::Always);
        assert_eq!(policy.rule(Field::Status), Overwrite::OnCreate);
        assert_eq!(
            policy.rule(Field::Role),
            Overwrite::OnCreate,
            "others keep their default"
        );
        let error = OverwritePolicy::parse("colour=always").unwrap_err();
        assert!(
            error.contains("\"colour\"")
                && error.contains("description")
                && error.contains("start_on_boot, serial, comments, tags"),
            "{error}"
        );
        assert_eq!(OverwritePolicy::default().to_text(), "");
        assert_eq!(policy.to_text(), "status=on_create,description=always");
        assert_eq!(OverwritePolicy::parse(&policy.to_text()).unwrap(), policy);
        let error = OverwritePolicy::parse("memory=never").unwrap_err();
        assert!(error.contains("use always or on_create"), "{error}");
        assert!(OverwritePolicy::parse("memory")
            .unwrap_err()
            .contains("field=rule"));
    }

    #[test]
    fn operators_can_change_a_rule_and_it_round_trips_as_json() {
        let mut policy = OverwritePolicy::default();
        policy.0.insert(Field::Description, Overwrite::Always);
        policy.0.insert(Field::Status, Overwrite::OnCreate);
        let json = serde_json::to_string(&policy).unwrap();
        assert!(
            json.contains(r#""description":"always""#) && json.contains(r#""status":"on_create""#),
            "{json}"
        );
        let back: OverwritePolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back, policy);
        assert_eq!(
            back.update(Field::Description, &"a".to_string(), "b".to_string()),
            Some("b".to_string())
        );
        assert_eq!(
            back.update(Field::Status, &"offline".to_string(), "active".to_string()),
            None
        );
    }
}
