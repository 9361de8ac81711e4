//! Mapping rules: the tenant, role and platform a guest's VM gets, chosen by rules that
//! match on its cluster, node, name (a regular expression), a Proxmox tag or its Proxmox
//! pool, and the site a cluster gets. For each field the first matching rule that sets it
//! wins; a guest no rule gives a field gets the default (the platform of its `ostype`, no
//! tenant, no role). What a rule sets is written when Proxbox creates the object, and
//! afterwards where the overwrite rules say so (`role=always`…). A site follows the cluster
//! (NetBox keeps a cluster's devices and VMs in the cluster's site): site rules match on the
//! cluster alone and apply when Proxbox creates the cluster.
//!
//! Rules are JSON (`PROXBOX_MAPPING`, or a file with `--mapping-file`), NetBox objects by
//! slug:
//!
//! ```json
//! [{"name": "shop web servers", "match": {"cluster": "lab", "name": "^web-", "tag": "prod"},
//!   "site": "dc-east", "tenant": "shop", "role": "web", "platform": "debian-12"}]
//! ```
//!
//! Before a run writes anything, every slug a rule names is looked up in NetBox; a rule that
//! names an object NetBox lacks stops the run with an error that names the rule.

use proxbox_netbox::models::{DeviceRole, Platform, Site, Slugged, Tenant, Vrf};
use proxbox_netbox::NetboxClient;
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::failure::StageError;
use crate::events::ErrorCategory;

/// What a rule matches; every condition given must hold (none: every guest).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// A regular expression the guest's name must match (`^web-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A Proxmox tag the guest carries (case does not matter, as in Proxmox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
}

/// One rule as operators write it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// How errors and items name the rule; `rule N` (from 1) without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "match")]
    pub when: Match,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The VRF (by name) the addresses of matching guests — and of matching nodes, for a
    /// rule on the cluster or node alone — are created and matched in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
}

/// The facts of a guest that rules match on.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub cluster: &'a str,
    pub node: &'a str,
    pub name: &'a str,
    pub tags: &'a [String],
    pub pool: Option<&'a str>,
}

/// The operator's rules, checked and compiled.
#[derive(Debug, Clone, Default)]
pub struct MappingRules {
    rules: Vec<(Rule, Option<Regex>)>,
}

impl PartialEq for MappingRules {
    fn eq(&self, other: &Self) -> bool {
        self.rules().eq(other.rules())
    }
}

impl Eq for MappingRules {}

fn rule_name(rule: &Rule, index: usize) -> String {
    rule.name
        .clone()
        .unwrap_or_else(|| format!("rule {}", index + 1))
}

impl MappingRules {
    /// Rules from their JSON (an array; empty text is no rules). Errors say which rule and
    /// what to write instead.
    pub fn parse(text: &str) -> Result<MappingRules, String> {
        if text.trim().is_empty() {
            return Ok(MappingRules::default());
        }
        let rules: Vec<Rule> = serde_json::from_str(text).map_err(|e| {
            format!(
                "the mapping rules are not valid: {e}; write a JSON array of rules such as \
                 [{{\"match\": {{\"tag\": \"prod\"}}, \"site\": \"dc-east\"}}] (match on cluster, node, name, tag, pool; set site, tenant, role, platform)"
            )
        })?;
        MappingRules::from_rules(rules)
    }

    /// Rules as the settings page edits them: one JSON object per line (blank lines
    /// skipped), or a whole JSON array. Errors name the line.
    pub fn parse_lines(text: &str) -> Result<MappingRules, String> {
        if text.trim_start().starts_with('[') {
            return MappingRules::parse(text);
        }
        let mut rules = Vec::new();
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let rule: Rule = serde_json::from_str(line).map_err(|e| {
                format!(
                    "line {}: {e}; write one rule per line, such as {{\"match\": {{\"tag\": \"prod\"}}, \"role\": \"web\"}} (match on cluster, node, name, tag, pool; set site, tenant, role, platform, vrf)",
                    number + 1
                )
            })?;
            rules.push(rule);
        }
        MappingRules::from_rules(rules)
    }

    /// One compact JSON object per rule and line: the settings page's text.
    pub fn to_lines(&self) -> String {
        self.rules()
            .filter_map(|rule| serde_json::to_string(rule).ok())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The rules as one JSON array, as stored.
    pub fn to_json(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        serde_json::to_string(&self.rules().collect::<Vec<_>>()).unwrap_or_default()
    }

    fn from_rules(rules: Vec<Rule>) -> Result<MappingRules, String> {
        let mut compiled = Vec::with_capacity(rules.len());
        for (index, rule) in rules.into_iter().enumerate() {
            let name = rule_name(&rule, index);
            let regex = match &rule.when.name {
                Some(pattern) => Some(Regex::new(pattern).map_err(|e| {
                    format!("mapping rule {name:?}: the name pattern {pattern:?} is not a regular expression: {e}")
                })?),
                None => None,
            };
            let when = &rule.when;
            let guest_conditions = [&when.node, &when.name, &when.tag, &when.pool];
            if rule.site.is_some() && guest_conditions.iter().any(|c| c.is_some()) {
                return Err(format!(
                    "mapping rule {name:?} sets a site for some guests or nodes only; NetBox keeps a cluster's devices and VMs in the cluster's site, so a site rule may match on the cluster alone (put the site in a rule of its own: {{\"match\": {{\"cluster\": …}}, \"site\": …}})"
                ));
            }
            if [
                &rule.site,
                &rule.tenant,
                &rule.role,
                &rule.platform,
                &rule.vrf,
            ]
            .iter()
            .all(|v| v.is_none())
            {
                return Err(format!(
                    "mapping rule {name:?} sets nothing; give it a site, tenant, role, platform or vrf"
                ));
            }
            compiled.push((rule, regex));
        }
        Ok(MappingRules { rules: compiled })
    }

    /// Rules from a file of their JSON.
    pub fn from_file(path: &std::path::Path) -> Result<MappingRules, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the mapping rules file {}: {e}", path.display()))?;
        MappingRules::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// [`MappingRules::from_file`] for a path as given on the command line.
    pub fn from_path(path: &str) -> Result<MappingRules, String> {
        MappingRules::from_file(std::path::Path::new(path))
    }

    /// These rules, then `later`'s.
    pub fn then(mut self, later: MappingRules) -> MappingRules {
        self.rules.extend(later.rules);
        self
    }

    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().map(|(rule, _)| rule)
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The site slug of the first rule that sets a site and matches the cluster: the site a
    /// new cluster is scoped to (its devices and VMs with it).
    pub fn cluster_site(&self, cluster: &str) -> Option<&str> {
        self.rules().find_map(|rule| {
            let site = rule.site.as_deref()?;
            rule.when
                .cluster
                .as_deref()
                .is_none_or(|c| c == cluster)
                .then_some(site)
        })
    }

    /// The index of the first rule that matches.
    pub fn first_match(&self, facts: &Facts<'_>) -> Option<usize> {
        self.matching(facts).next()
    }

    /// What the matching rules give a guest, by their objects' ids (`resolved`, in rule
    /// order): each field from the first matching rule that sets it.
    pub fn pick(&self, resolved: &[Resolved], facts: &Facts<'_>) -> Resolved {
        let mut picked = Resolved::default();
        for index in self.matching(facts) {
            let Some(rule) = resolved.get(index) else {
                continue;
            };
            picked.tenant = picked.tenant.or(rule.tenant);
            picked.role = picked.role.or(rule.role);
            picked.platform = picked.platform.or(rule.platform);
            picked.vrf = picked.vrf.or(rule.vrf);
        }
        picked
    }

    /// The VRF of a node's addresses: from the first rule with a VRF that matches on the
    /// cluster or node alone (the guest conditions never match a node).
    pub fn node_vrf(&self, resolved: &[Resolved], cluster: &str, node: &str) -> Option<u64> {
        self.rules().enumerate().find_map(|(index, rule)| {
            let when = &rule.when;
            let for_nodes = when.name.is_none() && when.tag.is_none() && when.pool.is_none();
            (for_nodes
                && when.cluster.as_deref().is_none_or(|c| c == cluster)
                && when.node.as_deref().is_none_or(|n| n == node))
            .then(|| resolved.get(index).and_then(|r| r.vrf))
            .flatten()
        })
    }

    fn matching<'s>(&'s self, facts: &'s Facts<'_>) -> impl Iterator<Item = usize> + 's {
        self.rules
            .iter()
            .enumerate()
            .filter(move |(_, (rule, regex))| {
                let when = &rule.when;
                when.cluster.as_deref().is_none_or(|c| c == facts.cluster)
                    && when.node.as_deref().is_none_or(|n| n == facts.node)
                    && regex.as_ref().is_none_or(|r| r.is_match(facts.name))
                    && when
                        .tag
                        .as_deref()
                        .is_none_or(|t| facts.tags.iter().any(|have| have.eq_ignore_ascii_case(t)))
                    && when.pool.as_deref().is_none_or(|p| facts.pool == Some(p))
            })
            .map(|(index, _)| index)
    }
}

/// A rule with the NetBox ids of what it sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resolved {
    pub site: Option<u64>,
    pub tenant: Option<u64>,
    pub role: Option<u64>,
    pub platform: Option<u64>,
    pub vrf: Option<u64>,
}

async fn lookup<M: Slugged>(
    netbox: &NetboxClient,
    rule: &str,
    what: &str,
    slug: Option<&String>,
) -> Result<Option<u64>, StageError> {
    let Some(slug) = slug else {
        return Ok(None);
    };
    match netbox.find_slug::<M>(slug).await? {
        Some(found) => Ok(Some(found.id())),
        None => Err(StageError {
            category: ErrorCategory::Validation,
            message: format!("mapping rule {rule:?} names the {what} {slug:?}, which NetBox does not have"),
            detail: format!("No {what} with the slug {slug:?} in NetBox at {}; nothing was written.", netbox.base_url()),
            suggestion: format!("Create the {what} {slug:?} in NetBox, or correct the rule's slug (Settings → Mapping rules, PROXBOX_MAPPING or --mapping-file)."),
        }),
    }
}

/// VRFs have no slug: by their name, which must name exactly one.
async fn lookup_vrf(
    netbox: &NetboxClient,
    rule: &str,
    name: Option<&String>,
) -> Result<Option<u64>, StageError> {
    let Some(name) = name else {
        return Ok(None);
    };
    let found: Vec<Vrf> = netbox.list(&[("name", name.clone())]).await?;
    let found: Vec<&Vrf> = found.iter().filter(|v| v.name == *name).collect();
    match found.as_slice() {
        [vrf] => Ok(Some(vrf.id)),
        none_or_many => Err(StageError {
            category: ErrorCategory::Validation,
            message: format!(
                "mapping rule {rule:?} names the VRF {name:?}, of which NetBox has {}",
                if none_or_many.is_empty() { "none".to_string() } else { format!("{}", none_or_many.len()) }
            ),
            detail: format!("VRFs named {name:?} in NetBox at {}: {}; nothing was written.", netbox.base_url(), none_or_many.len()),
            suggestion: format!("Create one VRF named {name:?} in NetBox (IPAM → VRFs), or correct the rule's name."),
        }),
    }
}

/// Every rule's objects looked up in NetBox, in rule order; the first rule that names an
/// object NetBox lacks is the error.
pub async fn resolve(
    netbox: &NetboxClient,
    rules: &MappingRules,
) -> Result<Vec<Resolved>, StageError> {
    let mut resolved = Vec::new();
    for (index, rule) in rules.rules().enumerate() {
        let name = rule_name(rule, index);
        resolved.push(Resolved {
            site: lookup::<Site>(netbox, &name, "site", rule.site.as_ref()).await?,
            tenant: lookup::<Tenant>(netbox, &name, "tenant", rule.tenant.as_ref()).await?,
            role: lookup::<DeviceRole>(netbox, &name, "role", rule.role.as_ref()).await?,
            platform: lookup::<Platform>(netbox, &name, "platform", rule.platform.as_ref()).await?,
            vrf: lookup_vrf(netbox, &name, rule.vrf.as_ref()).await?,
        });
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(name: &'a str, tags: &'a [String], pool: Option<&'a str>) -> Facts<'a> {
        Facts {
            cluster: "lab",
            node: "pve1",
            name,
            tags,
            pool,
        }
    }

    #[test]
    fn the_first_matching_rule_wins_and_every_condition_must_hold() {
        let rules = MappingRules::parse(
            r#"[
                {"name": "prod web", "match": {"name": "^web-", "tag": "PROD"}, "role": "web"},
                {"match": {"pool": "customers"}, "tenant": "acme"},
                {"match": {"cluster": "lab", "node": "pve1"}, "platform": "debian"},
                {"match": {"cluster": "other"}, "site": "dc-2"}
            ]"#,
        )
        .unwrap();
        assert_eq!(rules.cluster_site("other"), Some("dc-2"));
        assert_eq!(rules.cluster_site("lab"), None);
        let prod = ["prod".to_string()];
        assert_eq!(rules.first_match(&facts("web-1", &prod, None)), Some(0));
        assert_eq!(
            rules.first_match(&facts("web-1", &[], Some("customers"))),
            Some(1),
            "the tag is missing: the next rule"
        );
        assert_eq!(rules.first_match(&facts("db-1", &prod, None)), Some(2));
        let elsewhere = Facts {
            cluster: "third",
            ..facts("db-1", &[], None)
        };
        assert_eq!(rules.first_match(&elsewhere), None, "the defaults");
    }

    #[test]
    fn each_field_comes_from_the_first_matching_rule_that_sets_it() {
        let rules = MappingRules::parse(
            r#"[
                {"match": {"cluster": "lab"}, "site": "dc-1"},
                {"match": {"tag": "prod"}, "role": "web"},
                {"match": {"name": "^web"}, "role": "ignored", "tenant": "shop"}
            ]"#,
        )
        .unwrap();
        let resolved = [
            Resolved {
                site: Some(1),
                ..Resolved::default()
            },
            Resolved {
                role: Some(2),
                ..Resolved::default()
            },
            Resolved {
                role: Some(3),
                tenant: Some(4),
                ..Resolved::default()
            },
        ];
        let prod = ["prod".to_string()];
        assert_eq!(
            rules.pick(&resolved, &facts("web-1", &prod, None)),
            Resolved {
                tenant: Some(4),
                role: Some(2),
                ..Resolved::default()
            },
            "the site is the cluster's, not the guest's"
        );
        assert_eq!(
            rules.pick(&resolved, &facts("db", &[], None)),
            Resolved::default()
        );
    }

    #[test]
    fn a_vrf_rule_on_the_cluster_covers_its_nodes_and_a_guest_rule_only_guests() {
        let rules = MappingRules::parse(
            r#"[
                {"match": {"tag": "dmz"}, "vrf": "dmz"},
                {"match": {"cluster": "lab"}, "vrf": "lab"}
            ]"#,
        )
        .unwrap();
        let resolved = [
            Resolved {
                vrf: Some(7),
                ..Resolved::default()
            },
            Resolved {
                vrf: Some(8),
                ..Resolved::default()
            },
        ];
        assert_eq!(rules.node_vrf(&resolved, "lab", "pve1"), Some(8));
        assert_eq!(rules.node_vrf(&resolved, "other", "pve1"), None);
        let dmz = ["dmz".to_string()];
        assert_eq!(
            rules.pick(&resolved, &facts("web", &dmz, None)).vrf,
            Some(7)
        );
        assert_eq!(rules.pick(&resolved, &facts("web", &[], None)).vrf, Some(8));
    }

    #[test]
    fn bad_rules_are_refused_with_what_to_write() {
        for (text, wanted) in [
            ("{", "JSON array of rules"),
            (
                r#"[{"match": {"colour": "red"}, "site": "a"}]"#,
                "unknown field",
            ),
            (r#"[{"match": {"name": "(web"}, "site": "a"}]"#, "rule 1"),
            (
                r#"[{"name": "empty", "match": {"tag": "x"}}]"#,
                "sets nothing",
            ),
            (
                r#"[{"match": {"cluster": "lab", "tag": "x"}, "site": "a"}]"#,
                "match on the cluster alone",
            ),
        ] {
            let error = MappingRules::parse(text).unwrap_err();
            assert!(error.contains(wanted), "{text}: {error}");
        }
        assert!(MappingRules::parse("  ").unwrap().is_empty());
    }
}
