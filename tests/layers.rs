//! The layers of the code, kept by a test: every file under `src/` is read, each of its
//! imports of another module of the crate (`use crate::…`, `use super::…`, and `crate::…`
//! paths written inline) is resolved to the module it names, and checked against the rules
//! below. A new import that breaks one fails with the file, the line and the rule; an
//! import that closes a circle between modules fails with the circle.
//!
//! The rules, lowest layer first (docs/architecture.md):
//! - shared (`models`, `error`, `validation`, `events`, `wire`) imports nothing of the
//!   server, the app, the pages or the components;
//! - infrastructure (`server::infra`) imports only shared code and itself;
//! - the engine (`server::sync`, `server::jobs`) imports only shared code, infrastructure
//!   and itself;
//! - services (`server::services`: use cases and the pages' read models) import only the
//!   layers below them;
//! - infrastructure, the engine and services use no web or command-line crate (axum,
//!   Leptos, clap);
//! - the web (`server::web`) imports no command line, no page and no component (it renders
//!   the app through its shell, `app`);
//! - pages and components never import the command line; components never import pages.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where a module sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    Shared,
    Infra,
    Engine,
    Services,
    Web,
    Cli,
    App,
    Pages,
    Components,
}

fn layer_of(module: &str) -> Layer {
    let under = |prefix: &str| module == prefix || module.starts_with(&format!("{prefix}::"));
    if ["models", "error", "validation", "events", "wire"]
        .iter()
        .any(|m| under(m))
    {
        Layer::Shared
    } else if under("server::infra") {
        Layer::Infra
    } else if under("server::sync") || under("server::jobs") {
        Layer::Engine
    } else if under("server::services") {
        Layer::Services
    } else if under("server::web") {
        Layer::Web
    } else if under("server::cli") || under("server") {
        Layer::Cli
    } else if under("pages") {
        Layer::Pages
    } else if under("components") {
        Layer::Components
    } else {
        Layer::App
    }
}

/// Why an import from `from` to `to` is not allowed, if it is not.
fn broken_rule(from: Layer, to: Layer) -> Option<&'static str> {
    use Layer::*;
    match (from, to) {
        (Shared, Shared) => None,
        (Shared, _) => {
            Some("shared code imports nothing of the server, the app, pages or components")
        }
        (Infra, Shared | Infra) => None,
        (Infra, _) => Some("infrastructure imports only shared code and itself"),
        (Engine, Shared | Infra | Engine) => None,
        (Engine, _) => Some("the engine imports only shared code, infrastructure and itself"),
        (Services, Shared | Infra | Engine | Services) => None,
        (Services, _) => Some("services import only the engine, infrastructure and shared code"),
        (Web, Cli | Pages | Components) => {
            Some("the web imports no command line, page or component")
        }
        (App | Pages | Components, Cli) => Some("the app never imports the command line"),
        (Components, Pages) => Some("components never import pages"),
        _ => None,
    }
}

/// Crates infrastructure, the engine and services must not use: they run the same under
/// the web server, the command line and a test.
const NOT_IN_THE_ENGINE: [&str; 4] = ["axum", "leptos", "leptos_axum", "clap"];

/// One import: the file and line it is on, and the module (or crate) it names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Import {
    file: String,
    line: usize,
    module: String,
}

/// The module a file is (`src/server/sync/mod.rs` → `server::sync`).
fn module_of(file: &Path, src: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    let parts: Vec<&str> = parts
        .iter()
        .map(String::as_str)
        .filter(|p| *p != "mod" && *p != "lib" && *p != "main")
        .collect();
    parts.join("::")
}

/// The text of a line without its comment and string literals (a path in a doc comment or a
/// message is no import).
fn code_of(line: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => in_string = !in_string,
            '\\' if in_string => {
                chars.next();
            }
            '/' if !in_string && chars.peek() == Some(&'/') => break,
            _ if in_string => {}
            c => out.push(c),
        }
    }
    out
}

/// The crate-internal paths a line names: `crate::a::b`, `super::a` (resolved against the
/// file's module), each member of a group on the line (`super::{a, b}`), and the crates the
/// engine must not use.
fn paths_in(code: &str, module: &str) -> Vec<String> {
    let is_path_char = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = ["crate::", "super::"]
        .iter()
        .filter_map(|start| rest.find(start))
        .min()
    {
        let before = rest[..at].chars().last();
        let tail = &rest[at..];
        let end = tail.find(|c: char| !is_path_char(c)).unwrap_or(tail.len());
        let word = &tail[..end];
        rest = &tail[end..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `my_crate::…`, not this crate
        }
        let prefix = resolve(word, module);
        // A group on this line: each member is a path of its own.
        let members: Vec<String> = match rest.strip_prefix('{') {
            Some(group) if word.ends_with("::") => group
                .split('}')
                .next()
                .unwrap_or_default()
                .split(',')
                .filter_map(|m| m.trim().split(|c: char| !is_path_char(c)).next())
                .filter(|m| !m.is_empty() && *m != "self")
                .map(|m| join(&prefix, m))
                .collect(),
            _ => Vec::new(),
        };
        if members.is_empty() {
            found.push(prefix);
        } else {
            found.extend(members);
        }
    }
    for krate in NOT_IN_THE_ENGINE {
        let uses = code
            .split(|c: char| !is_path_char(c))
            .any(|w| w == krate || w.starts_with(&format!("{krate}::")));
        let used = code.trim_start().starts_with("use ") || code.contains(&format!("{krate}::"));
        if uses && used {
            found.push(krate.to_string());
        }
    }
    found
}

/// `crate::a::b` → `a::b`; `super::a` in module `m::n` → `m::a`.
fn resolve(word: &str, module: &str) -> String {
    if let Some(path) = word.strip_prefix("crate::") {
        return path.trim_end_matches("::").to_string();
    }
    let mut base: Vec<&str> = module.split("::").filter(|p| !p.is_empty()).collect();
    let mut rest = word;
    while let Some(next) = rest.strip_prefix("super::") {
        base.pop();
        rest = next;
    }
    join(&base.join("::"), rest.trim_end_matches("::"))
}

fn join(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (_, true) => prefix.to_string(),
        _ => format!("{prefix}::{rest}"),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every import of the crate under `src`, test modules left out (a unit test may reach
/// anywhere it needs to).
fn imports(src: &Path) -> Vec<Import> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let module = module_of(&file, src);
        let shown = file
            .strip_prefix(src.parent().unwrap())
            .unwrap()
            .display()
            .to_string();
        if shown.ends_with("_tests.rs") || shown.ends_with("/tests.rs") {
            continue;
        }
        for (index, line) in text.lines().enumerate() {
            // The test module closes the file: what follows it is test code.
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            for path in paths_in(&code_of(line), &module) {
                out.push(Import {
                    file: shown.clone(),
                    line: index + 1,
                    module: path,
                });
            }
        }
    }
    out
}

/// The imports that break a rule, with the rule, as lines.
fn broken(imports: &[Import], src: &Path) -> Vec<(Import, &'static str)> {
    let mut out = Vec::new();
    for import in imports {
        let file = Path::new(&import.file);
        let from = layer_of(&module_of(&src.parent().unwrap().join(file), src));
        if NOT_IN_THE_ENGINE.contains(&import.module.as_str()) {
            if matches!(from, Layer::Infra | Layer::Engine | Layer::Services) {
                out.push((
                    import.clone(),
                    "infrastructure, the engine and services use no web or command-line crate",
                ));
            }
            continue;
        }
        if let Some(rule) = broken_rule(from, layer_of(&import.module)) {
            out.push((import.clone(), rule));
        }
    }
    out
}

/// The module that holds what `path` names: its longest prefix that is a module of `src`.
fn owner<'a>(path: &str, modules: &'a BTreeSet<String>) -> Option<&'a String> {
    let mut parts: Vec<&str> = path.split("::").collect();
    while !parts.is_empty() {
        if let Some(module) = modules.get(&parts.join("::")) {
            return Some(module);
        }
        parts.pop();
    }
    None
}

/// Every circle of imports between modules, each once, as the modules around it and the
/// import that closes it. A module using its parent (`use super::…`) is no circle: the
/// two are one room.
fn circles(imports: &[Import], src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f, src)).collect();
    let mut edges: BTreeMap<&str, BTreeMap<&str, &Import>> = BTreeMap::new();
    for import in imports {
        let from = module_of(&src.parent().unwrap().join(&import.file), src);
        let (Some(from), Some(to)) = (modules.get(&from), owner(&import.module, &modules)) else {
            continue;
        };
        if from == to || from.starts_with(&format!("{to}::")) {
            continue;
        }
        edges.entry(from).or_default().entry(to).or_insert(import);
    }
    // Depth-first search; a module met again on the current path closes a circle.
    fn visit<'a>(
        module: &'a str,
        edges: &BTreeMap<&'a str, BTreeMap<&'a str, &'a Import>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        found: &mut Vec<String>,
    ) {
        path.push(module);
        for (&next, import) in edges.get(module).into_iter().flatten() {
            if let Some(at) = path.iter().position(|m| *m == next) {
                let mut around: Vec<&str> = path[at..].to_vec();
                around.push(next);
                found.push(format!(
                    "{} (closed by {}:{})",
                    around.join(" → "),
                    import.file,
                    import.line
                ));
            } else if !done.contains(next) {
                visit(next, edges, path, done, found);
            }
        }
        path.pop();
        done.insert(module);
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    let starts: Vec<&str> = edges.keys().copied().collect();
    for module in starts {
        if !done.contains(module) {
            visit(module, &edges, &mut Vec::new(), &mut done, &mut found);
        }
    }
    found
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_import_keeps_the_layers() {
    let src = src();
    let imports = imports(&src);
    assert!(
        imports.len() > 500,
        "the crate's imports are read: {}",
        imports.len()
    );
    let new: Vec<String> = broken(&imports, &src)
        .into_iter()
        .map(|(import, rule)| {
            format!(
                "{}:{}: imports {} — {rule}",
                import.file, import.line, import.module
            )
        })
        .collect();
    assert!(
        new.is_empty(),
        "imports that break the layers:\n{}",
        new.join("\n")
    );
}

#[test]
fn no_module_imports_one_that_imports_it() {
    let src = src();
    let found = circles(&imports(&src), &src);
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

/// Writes a planted source tree.
fn plant(files: &[(&str, &str)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let file = root.path().join("src").join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    root
}

/// The checker itself, on a planted tree: each rule fails on a file that breaks it, and a
/// file that keeps them passes.
#[test]
fn a_planted_violation_of_each_rule_is_found() {
    let root = plant(&[
        ("models/mod.rs", "use crate::server::infra::db::Db;\n"),
        ("server/infra/db/mod.rs", "use crate::server::jobs::Jobs;\n"),
        (
            "server/sync/run.rs",
            "use axum::Router;\nuse super::super::web::http::router;\n",
        ),
        (
            "server/services/accounts.rs",
            "use crate::server::web::auth::Caller;\nuse crate::server::sync::run;\n",
        ),
        ("server/services/views/jobs.rs", "use leptos::prelude::*;\n"),
        (
            "server/web/exports.rs",
            "use crate::pages::backups::days_of;\nuse crate::server::cli::args::Cli;\nuse crate::app::shell;\n",
        ),
        ("components/overlay.rs", "use crate::pages::jobs::Job;\n"),
        ("pages/settings.rs", "use crate::server::cli::args::Cli;\n"),
        (
            "pages/jobs.rs",
            "// use crate::server::anything — a comment\nuse crate::models::Job;\nuse crate::server::services::views::jobs::load_job;\nfn f() { let _ = \"crate::pages::x\"; }\n",
        ),
        (
            "server/jobs/mod.rs",
            "use crate::server::infra::db::Db;\nuse super::sync::run;\n#[cfg(test)]\nmod tests { use crate::pages::x; }\n",
        ),
    ]);
    let src = root.path().join("src");
    let found: BTreeSet<(String, &str)> = broken(&imports(&src), &src)
        .into_iter()
        .map(|(import, rule)| (format!("{}:{}", import.file, import.line), rule))
        .collect();
    let web_rule = "the web imports no command line, page or component";
    let expected: BTreeSet<(String, &str)> = [
        (
            "src/models/mod.rs:1",
            "shared code imports nothing of the server, the app, pages or components",
        ),
        (
            "src/server/infra/db/mod.rs:1",
            "infrastructure imports only shared code and itself",
        ),
        (
            "src/server/sync/run.rs:1",
            "infrastructure, the engine and services use no web or command-line crate",
        ),
        (
            "src/server/sync/run.rs:2",
            "the engine imports only shared code, infrastructure and itself",
        ),
        (
            "src/server/services/accounts.rs:1",
            "services import only the engine, infrastructure and shared code",
        ),
        (
            "src/server/services/views/jobs.rs:1",
            "infrastructure, the engine and services use no web or command-line crate",
        ),
        ("src/server/web/exports.rs:1", web_rule),
        ("src/server/web/exports.rs:2", web_rule),
        (
            "src/components/overlay.rs:1",
            "components never import pages",
        ),
        (
            "src/pages/settings.rs:1",
            "the app never imports the command line",
        ),
    ]
    .into_iter()
    .map(|(at, rule)| (at.to_string(), rule))
    .collect();
    assert_eq!(found, expected);
}

/// A planted circle of three modules is found with the import that closes it; a child
/// using its parent is none.
#[test]
fn a_planted_circle_is_found() {
    let root = plant(&[
        ("server/web/http.rs", "use crate::app::shell;\n"),
        ("app.rs", "use crate::pages::dashboard::Dashboard;\n"),
        (
            "pages/dashboard.rs",
            "fn f() { crate::server::web::http::router(); }\n",
        ),
        ("server/web/auth/mod.rs", "pub struct Caller;\n"),
        ("server/web/auth/policy.rs", "use super::Caller;\n"),
    ]);
    let src = root.path().join("src");
    let found = circles(&imports(&src), &src);
    assert_eq!(
        found,
        ["app → pages::dashboard → server::web::http → app (closed by src/server/web/http.rs:1)"],
    );
}
