//! The architecture invariants of ARCHITECTURE.md, checked on the source:
//! the layers only point down, only `store/` (and `bench/`'s raw limits)
//! issues SQL, and `scan/` does no I/O. Reads `src/` as text; a new edge
//! the table lacks means changing the table here and in ARCHITECTURE.md
//! together, with the reason, and never a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first: a folder may import only folders of earlier
/// rows. `scan` sits below `events` (events screens card numbers and checks
/// tokens with it), `secrets` (random codes, hashes) below `store`, which
/// hashes pairing codes with it; the rest is the table of issue 11.
const LAYERS: &[&[&str]] = &[
    &["scan"],
    &["printing"],
    &["events", "telemetry", "devices"],
    &["config"],
    &["secrets"],
    &["store"],
    &["live"],
    &["pickup", "touchpoints", "printers", "kpi"],
    &["sync"],
    &["api", "bench", "fake_central"],
    &["service"],
    &["cli"],
];

fn row(folder: &str) -> Option<usize> {
    LAYERS.iter().position(|r| r.contains(&folder))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("read src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The top-level folders of `src/` (each a part of the picture).
fn folders() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(src())
        .expect("read src")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    out.sort();
    out
}

/// Code without `//` comments (doc comments mention other folders freely).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a file names through `crate::x` or
/// `crate::{x, y::z}`.
fn crate_imports(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        // `store_edge::crate::` cannot occur; `$crate::` (macros) counts too.
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            // Only the first segment of each path in the group is a folder.
            let mut depth = 0;
            let mut start = true;
            let mut name = String::new();
            for c in group[..end].chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        if !name.is_empty() {
                            out.insert(std::mem::take(&mut name));
                        }
                        start = true;
                        continue;
                    }
                    _ => {}
                }
                if start && depth == 0 {
                    if c.is_alphanumeric() || c == '_' {
                        name.push(c);
                    } else if !name.is_empty() {
                        start = false;
                    }
                }
            }
            if !name.is_empty() {
                out.insert(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// folder → (imported folder → first file that does it).
fn edges() -> BTreeMap<String, BTreeMap<String, String>> {
    let folders = folders();
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for folder in &folders {
        for file in rust_files(&src().join(folder)) {
            let text = std::fs::read_to_string(&file).expect("read source");
            for used in crate_imports(&code_of(&text)) {
                if used != *folder && folders.contains(&used) {
                    out.entry(folder.clone())
                        .or_default()
                        .entry(used)
                        .or_insert_with(|| file.display().to_string());
                }
            }
        }
    }
    out
}

#[test]
fn every_folder_of_src_has_a_row_in_the_layer_table() {
    let missing: Vec<_> = folders().into_iter().filter(|f| row(f).is_none()).collect();
    assert!(
        missing.is_empty(),
        "folders of src/ without a layer (add them to LAYERS here and to ARCHITECTURE.md): {missing:?}"
    );
}

#[test]
fn layers_only_point_down() {
    let mut wrong = Vec::new();
    for (from, to) in edges() {
        let Some(from_row) = row(&from) else { continue };
        for (used, file) in to {
            let Some(used_row) = row(&used) else { continue };
            if used_row >= from_row {
                wrong.push(format!(
                    "{from}/ (row {}) imports {used}/ (row {}) in {file}",
                    from_row + 1,
                    used_row + 1
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that do not point down the layer table:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_two_folders_import_each_other() {
    let edges = edges();
    let mut cycles = Vec::new();
    for (a, to) in &edges {
        for b in to.keys() {
            if a < b && edges.get(b).is_some_and(|back| back.contains_key(a)) {
                cycles.push(format!("{a}/ <-> {b}/"));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles: {cycles:?}");
}

#[test]
fn only_store_and_the_benchmarks_raw_limits_issue_sql() {
    let mut wrong = Vec::new();
    for file in rust_files(&src()) {
        let rel = file.strip_prefix(src()).expect("under src");
        let top = rel.components().next().and_then(|c| c.as_os_str().to_str());
        if matches!(top, Some("store") | Some("bench")) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        if code_of(&text).contains("rusqlite") {
            wrong.push(rel.display().to_string());
        }
    }
    assert!(
        wrong.is_empty(),
        "rusqlite named outside store/ and bench/: {wrong:?}"
    );
}

#[test]
fn scan_does_no_io_and_needs_no_runtime() {
    const IO: &[&str] = &[
        "std::fs",
        "std::net",
        "std::process",
        "std::thread",
        "std::io::stdin",
        "std::io::stdout",
        "std::env",
        "tokio",
        "File::",
        "TcpStream",
        "SystemTime::now",
        "println!",
        "eprintln!",
        "tracing::",
    ];
    let mut wrong = Vec::new();
    for file in rust_files(&src().join("scan")) {
        let code = code_of(&std::fs::read_to_string(&file).expect("read source"));
        for needle in IO {
            if code.contains(needle) {
                wrong.push(format!("{} uses {needle}", file.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "scan/ must stay pure: {wrong:?}");
}

#[test]
fn the_import_reader_sees_grouped_and_plain_paths() {
    let seen = crate_imports(
        "use crate::{config::Config, store::{self, Writer}};\nlet x = crate::scan::decode(b);\n$crate::telemetry::out::line",
    );
    let want: BTreeSet<String> = ["config", "store", "scan", "telemetry"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(seen, want);
    assert_eq!(code_of("let a = 1; // crate::store"), "let a = 1; ");
}
