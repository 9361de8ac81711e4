//! NetBox's extras Proxbox keeps in place: the identity custom field on devices and VMs,
//! and the custom link from a VM to its panel in Proxbox.

use serde::{Deserialize, Serialize};

use super::{Choice, Model};

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CustomField {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub object_types: Vec<String>,
    #[serde(rename = "type")]
    pub kind: Choice,
}
model!(CustomField, "extras/custom-fields");

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewCustomField {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub object_types: Vec<String>,
    pub description: String,
    /// `read-only` in the UI: operators should not edit identities by hand.
    pub ui_editable: String,
}

/// A custom link: a button on an object's page in NetBox.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CustomLink {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub object_types: Vec<String>,
    pub link_text: String,
    pub link_url: String,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub new_window: bool,
}
model!(CustomLink, "extras/custom-links");

/// A custom link to create or correct (with `id`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomLinkWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    pub name: String,
    pub object_types: Vec<String>,
    pub link_text: String,
    pub link_url: String,
    pub enabled: bool,
    pub new_window: bool,
    pub button_class: String,
}
