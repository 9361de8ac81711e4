//! The site: its settings (those of `Leptos.toml`, built in, so that the binary runs from
//! any directory; a file given with `--leptos-config` still overrides them) and its
//! bundle (WASM, JS, CSS, public files), carried inside the binary when it was built with
//! `PROXBOX_EMBED_SITE` (`scripts/dist`), read from disk otherwise.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use leptos::config::LeptosOptions;

/// `Leptos.toml` as it was when the binary was built.
const BUILT_IN_SETTINGS: &str = include_str!("../../../Leptos.toml");

/// The site settings: from `file` when given, else the built-in ones; `LEPTOS_…`
/// variables override either. A relative site root that does not exist here is looked
/// for beside the binary (`site/` in a release archive, `target/site` for a binary
/// cargo left in `target/<profile>/`), so that a binary started from elsewhere still
/// finds its bundle.
pub fn settings(file: Option<&Path>) -> Result<LeptosOptions, String> {
    let mut options = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!("cannot read the site settings from {}: {e}", path.display())
            })?;
            leptos::config::get_config_from_str(&text).map_err(|e| {
                format!("the site settings in {} are not valid: {e}", path.display())
            })?
        }
        None => leptos::config::get_config_from_str(BUILT_IN_SETTINGS)
            .map_err(|e| format!("the built-in site settings are not valid: {e}"))?,
    };
    if bundled().is_empty() {
        let root = PathBuf::from(&*options.site_root);
        if let Some(found) = locate_site_root(&root, std::env::current_exe().ok().as_deref()) {
            if found != root {
                options.site_root = found.display().to_string().into();
            }
        }
    }
    Ok(options)
}

/// Where a relative site root is: under the working directory, else beside the binary.
fn locate_site_root(root: &Path, binary: Option<&Path>) -> Option<PathBuf> {
    if root.is_absolute() || root.is_dir() {
        return Some(root.to_path_buf());
    }
    let beside = binary?.parent()?;
    [beside.join("site"), beside.parent()?.join("site")]
        .into_iter()
        .find(|candidate| candidate.is_dir())
}

/// Whether the binary carries its site bundle.
pub fn is_bundled() -> bool {
    !bundled().is_empty()
}

struct BundledFile {
    path: &'static str,
    etag: &'static str,
    body: &'static [u8],
}

fn bundled() -> &'static [BundledFile] {
    include!(concat!(env!("OUT_DIR"), "/bundled_site.rs"))
}

/// A file of the carried bundle, answered as a file server would (type, `ETag`,
/// `304 Not Modified`, no body for `HEAD`); `None` for anything else.
pub fn bundled_file(request: &Request) -> Option<Response> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return None;
    }
    let file = bundled()
        .iter()
        .find(|file| file.path == request.uri().path())?;
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == file.etag));
    let mut response = Response::builder()
        .header(header::ETAG, file.etag)
        // Names do not change between builds: a browser asks again, cheaply, by ETag.
        .header(header::CACHE_CONTROL, "no-cache")
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(file.path)),
        );
    let body = if unchanged {
        response = response.status(StatusCode::NOT_MODIFIED);
        Body::empty()
    } else {
        response = response.header(header::CONTENT_LENGTH, file.body.len());
        if request.method() == Method::HEAD {
            Body::empty()
        } else {
            Body::from(file.body)
        }
    };
    response.body(body).ok()
}

fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map_or("", |(_, ext)| ext);
    match extension {
        "wasm" => "application/wasm",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_settings_are_those_of_leptos_toml() {
        let options = leptos::config::get_config_from_str(BUILT_IN_SETTINGS).unwrap();
        assert_eq!(&*options.output_name, "proxbox");
        assert_eq!(&*options.site_pkg_dir, "pkg");
        assert_eq!(options.env, leptos::config::Env::PROD);
    }

    #[test]
    fn a_file_given_overrides_the_built_in_settings() {
        let dir = std::env::temp_dir().join(format!("proxbox-leptos-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("Leptos.toml");
        std::fs::write(
            &file,
            "[package.metadata.leptos]\noutput-name = \"proxbox\"\nsite-root = \"/srv/proxbox/site\"\nsite-pkg-dir = \"assets\"\nenv = \"PROD\"\n",
        )
        .unwrap();
        let options = settings(Some(&file)).unwrap();
        assert_eq!(&*options.site_root, "/srv/proxbox/site");
        assert_eq!(&*options.site_pkg_dir, "assets");
        let missing = settings(Some(&dir.join("nope.toml"))).unwrap_err();
        assert!(
            missing.contains("cannot read the site settings from"),
            "{missing}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_relative_site_root_is_found_beside_the_binary() {
        let dir = std::env::temp_dir().join(format!("proxbox-site-{}", std::process::id()));
        let release = dir.join("target/release");
        std::fs::create_dir_all(&release).unwrap();
        std::fs::create_dir_all(dir.join("target/site")).unwrap();
        let binary = release.join("proxbox");
        let root = Path::new("no-such-dir-here/site");
        assert_eq!(
            locate_site_root(root, Some(&binary)),
            Some(dir.join("target/site"))
        );
        std::fs::create_dir_all(release.join("site")).unwrap();
        assert_eq!(
            locate_site_root(root, Some(&binary)),
            Some(release.join("site")),
            "an archive's site/ beside the binary comes first"
        );
        assert_eq!(locate_site_root(root, None), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bundled_files_are_typed_by_their_extension() {
        assert_eq!(content_type("/pkg/proxbox.wasm"), "application/wasm");
        assert_eq!(
            content_type("/pkg/proxbox.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("/robots.txt"), "text/plain; charset=utf-8");
        assert_eq!(content_type("/LICENSE"), "application/octet-stream");
    }
}
