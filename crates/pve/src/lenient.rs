//! Lenient field access over JSON objects from Proxmox.
//!
//! The system Proxbox replaces dropped 317 of 349 VMs because one field arrived with a
//! type its strict parser did not expect. Here a field with an unexpected value becomes
//! `None` and a [`FieldWarning`]; the object it belongs to is still read.

use serde_json::{Map, Value};

/// A field that was present but could not be read; the object was kept without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldWarning {
    /// What the field belongs to, e.g. `qemu/101 config` or `/cluster/resources[3]`.
    pub context: String,
    pub field: String,
    pub message: String,
}

impl FieldWarning {
    /// Whether the entry it belongs to was left out of its list for want of what
    /// identifies it (a whole entry skipped, or its `vmid` or `type` unreadable): the list
    /// is then not everything Proxmox has.
    pub fn leaves_an_entry_out(&self) -> bool {
        matches!(self.field.as_str(), "" | "vmid" | "type")
    }
}

impl std::fmt::Display for FieldWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: field {:?} skipped: {}",
            self.context, self.field, self.message
        )
    }
}

/// A read result together with the warnings its lenient parsing produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    pub value: T,
    pub warnings: Vec<FieldWarning>,
}

impl<T> Parsed<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Parsed<U> {
        Parsed {
            value: f(self.value),
            warnings: self.warnings,
        }
    }
}

/// Typed access to one JSON object, collecting warnings instead of failing.
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    context: String,
    warnings: &'a mut Vec<FieldWarning>,
}

fn describe(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 60 {
        format!(
            "{}…",
            &text[..text.char_indices().nth(57).map_or(text.len(), |(i, _)| i)]
        )
    } else {
        text
    }
}

impl<'a> Fields<'a> {
    pub fn new(
        object: &'a Map<String, Value>,
        context: impl Into<String>,
        warnings: &'a mut Vec<FieldWarning>,
    ) -> Self {
        Fields {
            object,
            context: context.into(),
            warnings,
        }
    }

    pub fn context(&self) -> &str {
        &self.context
    }

    pub fn keys(&self) -> impl Iterator<Item = &'a String> {
        self.object.keys()
    }

    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.object.get(key).filter(|v| !v.is_null())
    }

    pub fn warn(&mut self, field: &str, message: impl Into<String>) {
        self.warnings.push(FieldWarning {
            context: self.context.clone(),
            field: field.to_string(),
            message: message.into(),
        });
    }

    fn read<T>(
        &mut self,
        key: &str,
        expected: &str,
        convert: impl Fn(&Value) -> Option<T>,
    ) -> Option<T> {
        let value = self.raw(key)?;
        let converted = convert(value);
        if converted.is_none() {
            let message = format!("expected {expected}, got {}", describe(value));
            self.warn(key, message);
        }
        converted
    }

    /// A string; numbers and booleans are accepted and written out.
    pub fn string(&mut self, key: &str) -> Option<String> {
        self.read(key, "a string", as_string)
    }

    pub fn u64(&mut self, key: &str) -> Option<u64> {
        self.read(key, "a non-negative integer", as_u64)
    }

    pub fn i64(&mut self, key: &str) -> Option<i64> {
        self.read(key, "an integer", as_i64)
    }

    pub fn f64(&mut self, key: &str) -> Option<f64> {
        self.read(key, "a number", as_f64)
    }

    /// Proxmox sends booleans as 0/1 (sometimes as strings); all of those are accepted.
    pub fn bool(&mut self, key: &str) -> Option<bool> {
        self.read(key, "a boolean (0/1)", as_bool)
    }

    /// A required string: when missing or unreadable the object cannot be identified.
    pub fn required_string(&mut self, key: &str) -> Option<String> {
        let value = self.string(key);
        if value.is_none() && self.raw(key).is_none() {
            self.warn(key, "required field is missing");
        }
        value
    }

    pub fn required_u64(&mut self, key: &str) -> Option<u64> {
        let value = self.u64(key);
        if value.is_none() && self.raw(key).is_none() {
            self.warn(key, "required field is missing");
        }
        value
    }
}

pub fn as_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

pub fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9e18)
                .map(|f| f as i64)
        }),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e18)
                    .map(|f| f as i64)
            })
        }
        _ => None,
    }
}

pub fn as_u64(value: &Value) -> Option<u64> {
    as_i64(value)
        .and_then(|i| u64::try_from(i).ok())
        .or_else(|| value.as_u64())
}

pub fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Some(true),
            "0" | "false" | "no" | "off" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A type read leniently from one JSON object; `None` only when the object cannot be
/// identified at all (its identity fields are missing).
pub trait FromFields: Sized {
    fn from_fields(fields: &mut Fields<'_>) -> Option<Self>;
}

/// Reads a JSON array of objects; objects that cannot be identified are skipped with a warning.
pub fn parse_list<T: FromFields>(value: &Value, context: &str) -> Result<Parsed<Vec<T>>, String> {
    let Value::Array(items) = value else {
        return Err(format!("expected a list, got {}", describe(value)));
    };
    let mut warnings = Vec::new();
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let item_context = format!("{context}[{index}]");
        match item {
            Value::Object(object) => {
                if let Some(parsed) = T::from_fields(&mut Fields::new(
                    object,
                    item_context.clone(),
                    &mut warnings,
                )) {
                    out.push(parsed);
                } else {
                    warnings.push(FieldWarning {
                        context: item_context,
                        field: String::new(),
                        message: "entry skipped: it lacks the fields that identify it".into(),
                    });
                }
            }
            other => warnings.push(FieldWarning {
                context: item_context,
                field: String::new(),
                message: format!("entry skipped: expected an object, got {}", describe(other)),
            }),
        }
    }
    Ok(Parsed {
        value: out,
        warnings,
    })
}

/// Reads one JSON object.
pub fn parse_object<T: FromFields>(value: &Value, context: &str) -> Result<Parsed<T>, String> {
    let Value::Object(object) = value else {
        return Err(format!("expected an object, got {}", describe(value)));
    };
    let mut warnings = Vec::new();
    let parsed = T::from_fields(&mut Fields::new(object, context, &mut warnings))
        .ok_or_else(|| format!("the answer lacks required fields: {warnings:?}"))?;
    Ok(Parsed {
        value: parsed,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_may_arrive_as_strings_and_booleans_as_integers() {
        let object = json!({"a": "42", "b": 42, "c": 4.0, "d": "1", "e": 0, "f": true, "g": "x", "h": 2, "i": -1})
            .as_object()
            .cloned()
            .unwrap();
        let mut warnings = Vec::new();
        let mut f = Fields::new(&object, "t", &mut warnings);
        assert_eq!(f.u64("a"), Some(42));
        assert_eq!(f.u64("b"), Some(42));
        assert_eq!(f.u64("c"), Some(4));
        assert_eq!(f.bool("d"), Some(true));
        assert_eq!(f.bool("e"), Some(false));
        assert_eq!(f.bool("f"), Some(true));
        assert_eq!(f.string("b").as_deref(), Some("42"));
        assert_eq!(f.u64("missing"), None);
        assert_eq!(f.u64("g"), None);
        assert_eq!(f.bool("h"), None);
        assert_eq!(f.u64("i"), None);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert_eq!(warnings[0].field, "g");
        assert!(warnings[0].message.contains("\"x\""));
    }
}
