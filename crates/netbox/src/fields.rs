//! The fields a model reads, taken from its serde derive, for NetBox's `?fields=`: NetBox
//! then serialises (and queries) only what Proxbox compares, which makes list reads of
//! large clusters several times cheaper than the full representation.

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A deserializer that records the field names a struct asks for and then gives up.
struct FieldProbe<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("fields recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The JSON field names `T` reads (after serde renames); `None` for a type that is not a
/// plain struct (it then gets NetBox's full representation).
pub fn fields_of<'de, T: Deserialize<'de>>() -> Option<&'static [&'static str]> {
    let mut found = None;
    let _ = T::deserialize(FieldProbe(&mut found));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{CustomField, IpAddress, VirtualMachine};

    #[test]
    fn a_model_reads_its_serde_field_names() {
        let vm = fields_of::<VirtualMachine>().unwrap();
        assert!(
            vm.contains(&"primary_ip4") && vm.contains(&"custom_fields"),
            "{vm:?}"
        );
        assert!(!vm.contains(&"config_context"));
        // Renamed fields go by their JSON name.
        let custom = fields_of::<CustomField>().unwrap();
        assert!(
            custom.contains(&"type") && !custom.contains(&"kind"),
            "{custom:?}"
        );
        assert!(fields_of::<IpAddress>()
            .unwrap()
            .contains(&"assigned_object_id"));
        assert_eq!(fields_of::<u64>(), None);
    }
}
