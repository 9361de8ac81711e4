//! Leptos.toml (read by the server at start) and Cargo.toml (read by cargo-leptos at
//! build time) must agree on where the site is and what its files are called.

fn leptos_table(path: &str) -> toml::Table {
    let text = std::fs::read_to_string(path).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    doc["package"]["metadata"]["leptos"]
        .as_table()
        .unwrap()
        .clone()
}

#[test]
fn leptos_toml_agrees_with_cargo_toml() {
    let runtime = leptos_table("Leptos.toml");
    let build = leptos_table("Cargo.toml");
    for key in [
        "output-name",
        "site-root",
        "site-pkg-dir",
        "site-addr",
        "reload-port",
    ] {
        assert_eq!(
            runtime.get(key),
            build.get(key),
            "{key} differs between Leptos.toml and Cargo.toml"
        );
    }
    assert_eq!(
        runtime["env"].as_str(),
        Some("PROD"),
        "the release binary must not expect the live-reload socket"
    );
}

#[test]
fn the_server_reads_leptos_toml() {
    let conf = leptos::config::get_configuration(Some("Leptos.toml")).unwrap();
    assert_eq!(&*conf.leptos_options.output_name, "proxbox");
    assert_eq!(&*conf.leptos_options.site_root, "target/site");
}
