//! House-style checks over the source tree: every Rust file says what it is for in a `//!`
//! line, and none grows past the size where it should be split; no role crate reaches
//! into another role's runtime; every task and thread is spawned through the node
//! runtime; `anyhow` stays in the binary's command line; the binary only composes
//! (under 3,000 lines, no function over 80).

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n == "target" || n == "fixtures")
            {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn workspace_files() -> Vec<PathBuf> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    rust_files(&crates, &mut files);
    assert!(
        files.len() > 10,
        "found only {} files under {}",
        files.len(),
        crates.display()
    );
    files
}

#[test]
fn every_rust_file_starts_with_a_doc_line() {
    let missing: Vec<String> = workspace_files()
        .into_iter()
        .filter(|path| !std::fs::read_to_string(path).unwrap().starts_with("//!"))
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading //! line: {missing:#?}"
    );
}

#[test]
fn no_rust_file_is_too_long() {
    let long: Vec<String> = workspace_files()
        .into_iter()
        .filter_map(|path| {
            let lines = std::fs::read_to_string(&path).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", path.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these files (over {MAX_LINES} lines): {long:#?}"
    );
}

/// The source of a file without its inline test module (everything from the first
/// `#[cfg(test)]` on), or `None` for a file that is only tests.
fn production_source(path: &Path) -> Option<String> {
    let text = path.to_string_lossy().replace('\\', "/");
    let is_test = text.contains("/tests/")
        || text.contains("/examples/")
        || text.contains("/benches/")
        || text.contains("/test-support/")
        // Stand-ins for remote providers: each accept loop is owned by its handle.
        || text.contains("/fakes/")
        || text.ends_with("tests.rs");
    if is_test {
        return None;
    }
    let source = std::fs::read_to_string(path).unwrap();
    Some(match source.find("#[cfg(test)]") {
        Some(at) => source[..at].to_owned(),
        None => source,
    })
}

fn crate_of(path: &Path) -> String {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let relative = path.strip_prefix(&crates).unwrap_or(path);
    relative
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn no_role_crate_uses_another_roles_runtime() {
    const ROLES: [&str; 4] = ["monitor", "dns", "collator", "api"];
    let mut found = Vec::new();
    for path in workspace_files() {
        let owner = crate_of(&path);
        let Some(source) = production_source(&path) else {
            continue;
        };
        for role in ROLES.iter().filter(|role| **role != owner) {
            if owner == "geodns" {
                break; // the binary composes the roles
            }
            if source.contains(&format!("geodns_{role}::runtime")) {
                found.push(format!("{} uses geodns_{role}::runtime", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn every_task_and_thread_is_spawned_through_the_node_runtime() {
    let allowed = Path::new("node/src/tasks.rs");
    let mut found = Vec::new();
    for path in workspace_files() {
        if path.ends_with(allowed) {
            continue;
        }
        let Some(source) = production_source(&path) else {
            continue;
        };
        for banned in [
            "tokio::spawn(",
            "tokio::task::spawn(",
            "thread::spawn(",
            "thread::Builder",
        ] {
            if source.contains(banned) {
                found.push(format!("{}: {banned}", path.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "spawn through geodns_node::Tasks (or the tracker it gives the bus): {found:#?}"
    );
}

#[test]
fn anyhow_only_in_the_binarys_command_line() {
    let mut found = Vec::new();
    for path in workspace_files() {
        let Some(source) = production_source(&path) else {
            continue;
        };
        let text = path.to_string_lossy().replace('\\', "/");
        let cli = text.ends_with("geodns/src/cli.rs")
            || text.contains("geodns/src/cli/")
            || text.ends_with("geodns/src/run.rs");
        if !cli && source.contains("anyhow") {
            found.push(path.display().to_string());
        }
    }
    assert!(found.is_empty(), "anyhow outside the CLI: {found:#?}");
}

/// The functions of `source` with their length in lines: from a `fn` line to the line
/// that closes it at the same indentation.
fn functions(source: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut out = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let is_fn = [
            "fn ",
            "pub fn ",
            "async fn ",
            "pub async fn ",
            "pub(crate) fn ",
            "pub(super) fn ",
            "pub(crate) async fn ",
            "pub(super) async fn ",
        ]
        .iter()
        .any(|p| trimmed.starts_with(p));
        if !is_fn || line.trim_end().ends_with(';') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let close = format!("{}}}", " ".repeat(indent));
        if let Some(end) = lines[start..].iter().position(|l| l.trim_end() == close) {
            out.push((trimmed.to_owned(), end + 1));
        }
    }
    out
}

#[test]
fn the_binary_only_composes() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let total: usize = files
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap().lines().count())
        .sum();
    assert!(
        total < 3000,
        "crates/geodns/src has {total} lines (under 3,000)"
    );
    let long: Vec<String> = files
        .iter()
        .flat_map(|path| {
            let source = std::fs::read_to_string(path).unwrap();
            functions(&source)
                .into_iter()
                .filter(|(_, lines)| *lines > 80)
                .map(move |(name, lines)| format!("{}: {name} ({lines} lines)", path.display()))
        })
        .collect();
    assert!(long.is_empty(), "functions over 80 lines: {long:#?}");
}
