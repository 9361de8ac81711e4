//! With `PROXBOX_EMBED_SITE=DIR` (set by `scripts/dist`), the server binary carries the
//! site bundle `cargo leptos build` left in DIR (WASM, JS, CSS, public files), so that it
//! runs from any directory with nothing beside it. Without it, the table is empty and the
//! server reads the bundle from disk.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=PROXBOX_EMBED_SITE");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let site = std::env::var_os("PROXBOX_EMBED_SITE")
        .filter(|dir| !dir.is_empty() && std::env::var_os("CARGO_FEATURE_SSR").is_some());
    let mut table = String::from("&[\n");
    if let Some(site) = site {
        let root = PathBuf::from(site);
        let root = root.canonicalize().unwrap_or_else(|e| {
            panic!(
                "PROXBOX_EMBED_SITE={}: {e}; run `cargo leptos build` first",
                root.display()
            )
        });
        let mut files = Vec::new();
        collect(&root, &mut files);
        files.sort();
        assert!(
            !files.is_empty(),
            "PROXBOX_EMBED_SITE={}: the directory holds no file; run `cargo leptos build` first",
            root.display()
        );
        for file in files {
            println!("cargo:rerun-if-changed={}", file.display());
            let body = std::fs::read(&file).expect("a file just listed is readable");
            let web_path = file
                .strip_prefix(&root)
                .expect("listed under the root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let _ = writeln!(
                table,
                "    BundledFile {{ path: {:?}, etag: \"\\\"{:016x}\\\"\", body: include_bytes!({:?}) }},",
                format!("/{web_path}"),
                fnv1a(&body),
                file.display().to_string(),
            );
        }
    }
    table.push(']');
    std::fs::write(out.join("bundled_site.rs"), table).expect("OUT_DIR is writable");
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    for entry in std::fs::read_dir(dir).expect("the site directory is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// A content tag for `ETag` (64-bit FNV-1a: a build's files differ or not, nothing more).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
