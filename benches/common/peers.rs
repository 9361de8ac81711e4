//! What the benches that talk to the real NetBox and run the real binary share (each
//! includes this file with `#[path]`).

/// A value of `scripts/netbox-up`'s NetBox environment (`NETBOX_ENV_FILE` names another
/// file than `~/.cache/proxbox/netbox.env`).
pub fn netbox_env(key: &str) -> String {
    let file = format!(
        "{}/.cache/proxbox/netbox.env",
        std::env::var("HOME").unwrap()
    );
    let file = std::env::var("NETBOX_ENV_FILE").unwrap_or(file);
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("run scripts/netbox-up first ({file}: {e})"));
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
        .unwrap_or_else(|| panic!("{file} has no {key}"))
}

/// A loopback port free at this moment, for a server of the bench's own.
#[allow(dead_code)]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
