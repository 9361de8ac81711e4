//! Sizes and ages as an operator reads them.

/// `512 B`, `1.5 KiB` … `2.0 TiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A size Proxmox gives in MB (guest memory, disks).
pub fn format_mb(mb: u64) -> String {
    format_bytes(mb.saturating_mul(1024 * 1024))
}

/// How long ago, from seconds: `just now`, `5 min ago`, `3 h ago`, `2 days ago`.
pub fn format_age(secs: i64) -> String {
    match secs.max(0) {
        s if s < 60 => "just now".into(),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 2 * 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages_read_naturally() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_mb(2048), "2.0 GiB");
        assert_eq!(format_bytes(3 * 1024u64.pow(4)), "3.0 TiB");
        assert_eq!(format_age(30), "just now");
        assert_eq!(format_age(300), "5 min ago");
        assert_eq!(format_age(3 * 3600), "3 h ago");
        assert_eq!(format_age(5 * 86_400 + 10), "5 days ago");
    }
}
