//! Fuzzed inputs: what Proxmox, NetBox, a browser or an operator can send Proxbox, made
//! up at random (and shaped like the real thing, so that the parsers get past their first
//! check). Nothing may panic, and what comes out must still hold its promises. A quick run
//! in `make test`; `make bench` runs a million cases (`PROPTEST_CASES`).
//! Run with `--features ssr`.

#![cfg(feature = "ssr")]

use proptest::prelude::*;
use serde_json::{Map, Value};

use proxbox::events::SyncEvent;
use proxbox::server::infra::cron::Cron;
use proxbox::server::web::sse_wire::frame;
use proxbox::server::web::streams::sse::resume_point;
use proxbox::validation;
use proxbox_netbox::error::NbError;
use proxbox_pve::config::{
    parse_agent, parse_disk, parse_net, parse_property_string, parse_size, GuestConfig,
};
use proxbox_pve::types::{split_list, GuestKind};

/// Words Proxmox property strings are made of, and some that break them.
const WORDS: &[&str] = &[
    "virtio",
    "e1000",
    "model",
    "macaddr",
    "hwaddr",
    "bridge",
    "vmbr0",
    "tag",
    "firewall",
    "link_down",
    "mtu",
    "name",
    "eth0",
    "ip",
    "ip6",
    "gw",
    "gw6",
    "dhcp",
    "auto",
    "manual",
    "type",
    "veth",
    "volume",
    "file",
    "media",
    "cdrom",
    "size",
    "none",
    "enabled",
    "fstrim_cloned_disks",
    "local-lvm:vm-100-disk-0",
    "/dev/sdb",
    "32G",
    "1.5T",
    "512",
    "0",
    "1",
    "4094",
    "4095",
    "-1",
    "10.0.0.5/24",
    "fd00::5/64",
    "BC:24:11:00:00:01",
    "bc:24:11:zz:00:01",
    "1e400",
    "NaN",
    "",
    " ",
    "=",
    ",",
    ";",
    "\u{0}",
    "é",
    "🦀",
    "\n",
];

/// A property-string-like text: words joined by `=`, `,` and the like.
fn property_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(
            (prop::sample::select(WORDS), prop::sample::select(&["=", ",", ":", ""][..]), prop::sample::select(WORDS)),
            0..8,
        )
        .prop_map(|parts| {
            parts
                .into_iter()
                .map(|(a, sep, b)| format!("{a}{sep}{b}"))
                .collect::<Vec<_>>()
                .join(",")
        }),
        1 => any::<String>(),
    ]
}

/// A JSON value of any shape, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        property_text().prop_map(Value::String),
        any::<u64>().prop_map(|n| Value::String(n.to_string())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Keys of guest configurations and of listings, and some Proxmox never sends.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            &[
                "name",
                "hostname",
                "cores",
                "sockets",
                "vcpus",
                "memory",
                "ostype",
                "description",
                "tags",
                "onboot",
                "template",
                "agent",
                "net0",
                "net1",
                "net31",
                "scsi0",
                "virtio1",
                "sata2",
                "ide2",
                "efidisk0",
                "tpmstate0",
                "rootfs",
                "mp0",
                "smbios1",
                "vmid",
                "node",
                "status",
                "type",
                "maxmem",
                "maxdisk",
                "uptime",
                "id",
                "data",
                "ipconfig0",
                "lock",
            ][..]
        )
        .prop_map(str::to_string),
        "[a-z]{1,6}[0-9]{0,2}",
    ]
}

fn guest_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(key(), json_value(), 0..14).prop_map(|m| m.into_iter().collect())
}

fn kind() -> impl Strategy<Value = GuestKind> {
    prop_oneof![Just(GuestKind::Qemu), Just(GuestKind::Lxc)]
}

proptest! {
    #[test]
    fn property_strings_keep_what_they_read(text in property_text()) {
        let map = parse_property_string(&text, Some("volume"));
        for (key, value) in &map {
            prop_assert!(!key.contains(','), "{key:?}");
            prop_assert!(!value.contains(','), "{value:?}");
            prop_assert_eq!(key.trim(), key.as_str());
        }
    }

    #[test]
    fn network_devices_are_read_or_refused_with_a_reason(
        text in property_text(), index in 0u32..32, kind in kind(),
    ) {
        match parse_net(&format!("net{index}"), index, &text, kind) {
            Ok(device) => {
                if let Some(mac) = &device.mac {
                    prop_assert_eq!(mac.len(), 17, "{:?}", mac);
                    prop_assert_eq!(mac.to_ascii_uppercase(), mac.clone());
                }
                if let Some(vlan) = device.vlan {
                    prop_assert!((1..=4094).contains(&vlan));
                }
                for address in [&device.ip, &device.ip6].into_iter().flatten() {
                    prop_assert!(address.contains('/'), "{address:?}");
                }
            }
            Err(reason) => prop_assert!(!reason.is_empty()),
        }
    }

    #[test]
    fn disks_sizes_and_agents_never_panic(text in property_text(), key in key()) {
        if let Ok(Some(disk)) = parse_disk(&key, &text) {
            prop_assert!(!disk.volume.is_empty() && disk.volume != "none");
            if let Some(storage) = &disk.storage {
                prop_assert!(!storage.starts_with('/'));
            }
        }
        let _ = parse_size(&text);
        if let Ok(agent) = parse_agent(&text) {
            prop_assert!(!agent.enabled || text.contains('1'));
        }
        for tag in split_list(&text) {
            prop_assert!(!tag.is_empty() && !tag.contains([',', ' ', ';']), "{tag:?}");
        }
    }

    #[test]
    fn sizes_read_back_what_they_say(number in 0u64..1_000_000, unit in prop::sample::select(&["", "K", "M", "G", "T", "KB", "g"][..])) {
        let multiplier: u64 = match unit.to_ascii_uppercase().trim_end_matches('B') {
            "" => 1, "K" => 1 << 10, "M" => 1 << 20, "G" => 1 << 30, _ => 1 << 40,
        };
        prop_assert_eq!(parse_size(&format!("{number}{unit}")), Some(number * multiplier));
    }

    #[test]
    fn any_guest_configuration_is_read_leniently(object in guest_object(), kind in kind()) {
        let mut warnings = Vec::new();
        let config = GuestConfig::parse(kind, &object, "qemu/100/config", &mut warnings);
        let nets = object.keys().filter(|k| k.starts_with("net")).count();
        prop_assert!(config.nets.len() <= nets);
        for warning in &warnings {
            prop_assert!(!warning.message.is_empty());
        }
    }

    #[test]
    fn any_listing_is_read_or_refused(value in json_value()) {
        use proxbox_pve::lenient::{parse_list, parse_object};
        use proxbox_pve::types::*;
        if let Ok(listed) = parse_list::<ClusterResource>(&value, "cluster/resources") {
            let Value::Array(items) = &value else {
                return Err(TestCaseError::fail("a list read from something that is not one"));
            };
            let skipped = listed
                .warnings
                .iter()
                .filter(|w| w.message.starts_with("entry skipped"))
                .count();
            prop_assert_eq!(listed.value.len() + skipped, items.len());
        }
        let _ = parse_list::<NodeEntry>(&value, "nodes");
        let _ = parse_list::<NodeInterface>(&value, "nodes/pve1/network");
        let _ = parse_list::<BackupJob>(&value, "cluster/backup");
        let _ = parse_list::<AgentInterface>(&value, "agent/network-get-interfaces");
        let _ = parse_object::<Version>(&value, "version");
    }

    #[test]
    fn event_frames_are_read_or_refused(name in prop::sample::select(&[
        "discovery", "step", "substep", "item_progress", "phase_summary", "error_detail", "error", "complete", "made_up",
    ][..]), data in json_value()) {
        let text = data.to_string();
        if let Ok(event) = SyncEvent::from_frame(name, &text) {
            prop_assert_eq!(event.name(), name);
            // What was read is written back readable, as it was (a float may move by its
            // last digit: serde_json's default parsing is not exact to the last bit).
            let again = SyncEvent::from_frame(event.name(), &event.payload_json());
            prop_assert!(again.is_ok(), "{:?}", again);
            let (before, after) = (
                serde_json::from_str::<Value>(&event.payload_json()).unwrap(),
                serde_json::from_str::<Value>(&again.unwrap().payload_json()).unwrap(),
            );
            prop_assert!(same_json(&before, &after), "{} became {}", before, after);
        }
    }
}

/// Equal JSON, numbers within a relative 1e-12 of each other.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// Reads an event stream as the WHATWG `EventSource` does: lines end at CRLF, LF or CR;
/// `data:` lines join with LF; a blank line dispatches. Returns (id, event, data) of each.
fn read_event_stream(stream: &str) -> Vec<(Option<String>, String, String)> {
    let mut events = Vec::new();
    let (mut id, mut name, mut data): (Option<String>, String, Option<String>) =
        (None, String::new(), None);
    let normalised = stream.replace("\r\n", "\n").replace('\r', "\n");
    for line in normalised.split('\n') {
        if line.is_empty() {
            if let Some(data) = data.take() {
                events.push((id.clone(), std::mem::take(&mut name), data));
            }
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.to_string()),
            "event" => name = value.to_string(),
            "data" => match &mut data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => data = Some(value.to_string()),
            },
            _ => {}
        }
    }
    events
}

/// Text with the line breaks an event's data may hold.
fn event_data() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => "[ -~]{0,12}",
            1 => prop::sample::select(&["\n", "\r", "\r\n", "\n\n", ":", " ", "data: x", "é🦀"][..])
                .prop_map(str::to_string),
        ],
        0..10,
    )
    .prop_map(|parts| parts.concat())
}

/// A form field's validator: the value as stored, or what is wrong with it.
type Validator = fn(&str) -> Result<String, String>;

/// What a field of a form may hold: near-valid values and junk.
fn form_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::collection::vec(prop::sample::select(&[
            "https://", "http://", "pve1.example.com", ":8006", "/api2/json", "/", "/api", "?x=1", "#f",
            "root@pam", "!", "sync", "PVEAPIToken=", "nbt_", "abc.", "0123456789abcdef", " ", "\t",
            "-----BEGIN CERTIFICATE-----", "\n", "é", "30", "0", "-5", "99999999999", "on", "off",
        ][..]), 0..6).prop_map(|parts| parts.concat()),
        1 => any::<String>(),
    ]
}

proptest! {
    #[test]
    fn an_event_frame_reads_back_as_the_event_it_was(
        id in prop::option::of(0i64..i64::MAX), name in "[a-z_]{1,14}", data in event_data(),
    ) {
        let events = read_event_stream(&frame(id, &name, &data));
        prop_assert_eq!(events.len(), 1);
        let (read_id, read_name, read_data) = &events[0];
        prop_assert_eq!(read_id.clone(), id.map(|id| id.to_string()));
        prop_assert_eq!(read_name, &name);
        // A line break inside the data arrives as LF, whatever it was.
        prop_assert_eq!(read_data, &data.replace("\r\n", "\n").replace('\r', "\n"));
    }

    #[test]
    fn a_stream_resumes_at_a_point_it_has(
        header in prop::option::of(prop_oneof!["[ -~]{0,24}", (any::<i64>()).prop_map(|n| format!(" {n} "))]),
        query in prop::option::of(any::<i64>()),
    ) {
        let mut headers = axum::http::HeaderMap::new();
        if let Some(value) = header.as_ref().and_then(|h| axum::http::HeaderValue::from_str(h).ok()) {
            headers.insert("last-event-id", value);
        }
        let after = resume_point(&headers, query);
        prop_assert!(after >= 0);
        let from_header = header.as_ref().and_then(|h| h.trim().parse::<i64>().ok());
        prop_assert_eq!(after, from_header.or(query).unwrap_or(0).max(0));
    }

    #[test]
    fn form_fields_are_accepted_as_they_will_be_read_or_refused_with_a_reason(text in form_text()) {
        let validators: [(&str, Validator); 7] = [
            ("name", validation::name),
            ("proxmox_url", validation::proxmox_url),
            ("netbox_url", validation::netbox_url),
            ("public_url", validation::public_url),
            ("proxmox_user", validation::proxmox_user),
            ("proxmox_token_id", validation::proxmox_token_id),
            ("netbox_token", validation::netbox_token),
        ];
        for (field, validate) in validators {
            match validate(&text) {
                // What was accepted is what the form shows again: accepted again, unchanged.
                Ok(value) => prop_assert_eq!(validate(&value), Ok(value.clone()), "{}", field),
                Err(reason) => prop_assert!(!reason.trim().is_empty(), "{}", field),
            }
        }
        let _ = validation::split_whole_proxmox_token(&text);
        let _ = validation::secret_text(&text, "the token secret");
        if let Ok(secs) = validation::timeout_secs(&text, 30) {
            prop_assert!(secs > 0);
        }
        let _ = validation::ca_pem(&text);
        let _ = validation::parse_switch(&text);
    }

    #[test]
    fn schedules_parse_or_say_why_and_always_come_round(
        fields in prop::collection::vec(prop_oneof![
            "[0-9]{1,2}", Just("*".to_string()), "\\*/[0-9]{1,2}", "[0-9]{1,2}-[0-9]{1,2}",
            "[0-9]{1,2},[0-9]{1,2}", "[a-z]{3}", any::<String>(),
        ], 0..7),
        now in 0i64..4_102_444_800_000,
    ) {
        let text = fields.join(" ");
        match Cron::parse(&text) {
            Ok(cron) => {
                if let Some(next) = cron.next_after(now) {
                    prop_assert!(next > now);
                    prop_assert_eq!(next % 60_000, 0, "on a whole minute");
                }
            }
            Err(reason) => prop_assert!(!reason.is_empty()),
        }
        if let Err(reason) = proxbox::server::services::schedules::parse_when(&text) {
            prop_assert!(!reason.is_empty());
        }
    }

    #[test]
    fn netbox_error_bodies_become_short_messages_with_advice(
        status in prop_oneof![Just(400u16), Just(401), Just(403), Just(404), Just(409), Just(429), Just(500), Just(503), 100u16..600],
        method in prop::sample::select(&["GET", "POST", "PATCH", "DELETE"][..]),
        body in prop_oneof![
            json_value().prop_map(|v| v.to_string()),
            json_value().prop_map(|v| serde_json::json!({ "detail": v }).to_string()),
            "[ -~]{0,4000}".prop_map(|text| format!("<html><body><h1>Server Error</h1>{text}</body></html>")),
            "[ -~]{0,4000}".prop_map(|text| serde_json::json!({ "detail": text }).to_string()),
            prop::collection::vec("[ -~]{0,200}", 0..40)
                .prop_map(|errors| serde_json::json!({ "name": errors }).to_string()),
            any::<String>(),
        ],
    ) {
        let base = "https://netbox.example.com";
        let path = "/api/dcim/devices/";
        let error = NbError::from_status(status, method, base, path, &body);
        prop_assert!(!error.suggestion.is_empty());
        prop_assert!(
            error.message.chars().count() <= 1_000,
            "{} characters: {}", error.message.chars().count(), error.message
        );
    }
}
