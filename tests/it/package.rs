//! The Debian package (issue 14, "Packaging"): the udev rules parse and
//! name exactly the vendors of README's table; the packaged config is the
//! documented one with the placeholder store id; and, as root (always under
//! CI), `cargo deb` → lintian → `dpkg-deb --contents` → an install into a
//! fresh Debian root made with mmdebstrap: postinst, the enabled units, the
//! secret files, `config check`, `store-edge run` as the user store-edge
//! answering `/readyz`, the nightly backup unit's command writing its copy,
//! then remove and purge.
//!
//! The root is a tarball cached under `target/package/` (its name carries
//! the suite and the packages in it); it is unpacked afresh for each run.

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, free_port, BIN, DEADLINE};

const RULES: &str = "packaging/70-store-edge.rules";
/// The groups postinst puts the service user in: every GROUP of the rules
/// must be one of them.
const USER_GROUPS: [&str; 4] = ["dialout", "lp", "input", "plugdev"];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

// ---------------------------------------------------------------- udev rules

/// One `KEY{attr} OP "value"` of a rule.
#[derive(Debug)]
struct Pair {
    key: String,
    attr: Option<String>,
    op: String,
    value: String,
}

/// Which keys udev knows, whether they take `{attr}`, and their operators.
fn key_spec(key: &str) -> Option<(Option<bool>, &'static [&'static str])> {
    const MATCH: &[&str] = &["==", "!="];
    const BOTH: &[&str] = &["==", "!=", "=", "+=", "-=", ":="];
    const ASSIGN: &[&str] = &["=", "+=", "-=", ":="];
    // (attr required: Some(true), forbidden: Some(false), optional: None)
    Some(match key {
        "ACTION" | "DEVPATH" | "KERNEL" | "KERNELS" | "SUBSYSTEM" | "SUBSYSTEMS" | "DRIVER"
        | "DRIVERS" | "TAGS" | "RESULT" => (Some(false), MATCH),
        "ATTRS" | "CONST" => (Some(true), MATCH),
        "TEST" => (None, MATCH),
        "ATTR" | "SYSCTL" | "ENV" => (Some(true), BOTH),
        "TAG" | "SYMLINK" | "NAME" => (Some(false), BOTH),
        "PROGRAM" => (Some(false), &["=="]),
        "OWNER" | "GROUP" | "MODE" | "OPTIONS" => (Some(false), ASSIGN),
        "SECLABEL" => (Some(true), ASSIGN),
        "RUN" => (None, ASSIGN),
        "IMPORT" => (Some(true), &["=", "+="]),
        "LABEL" | "GOTO" => (Some(false), &["="]),
        _ => return None,
    })
}

/// The rules as udev reads them: comments and blank lines skipped, `\`
/// continues a line; each rule a list of comma-separated pairs with known
/// keys and the operators those keys allow. Errors name the line.
fn parse_rules(text: &str) -> Result<Vec<(usize, Vec<Pair>)>, String> {
    let mut rules = Vec::new();
    let mut joined = String::new();
    let mut first_line = 0;
    for (i, line) in text.lines().enumerate() {
        if joined.is_empty() {
            first_line = i + 1;
            let t = line.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
        }
        if let Some(head) = line.strip_suffix('\\') {
            joined.push_str(head);
            continue;
        }
        joined.push_str(line);
        let pairs = parse_rule(&joined).map_err(|e| format!("{RULES}:{first_line}: {e}"))?;
        rules.push((first_line, pairs));
        joined.clear();
    }
    if !joined.is_empty() {
        return Err(format!(
            "{RULES}:{first_line}: the file ends in a continued line"
        ));
    }
    Ok(rules)
}

fn parse_rule(rule: &str) -> Result<Vec<Pair>, String> {
    let mut pairs = Vec::new();
    let mut rest = rule.trim();
    loop {
        let key_len = rest
            .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .unwrap_or(rest.len());
        let key = &rest[..key_len];
        rest = &rest[key_len..];
        let (spec_attr, ops) = key_spec(key).ok_or_else(|| format!("unknown key {key:?}"))?;
        let attr = match rest.strip_prefix('{') {
            Some(after) => {
                let end = after.find('}').ok_or("an unclosed {")?;
                let attr = &after[..end];
                if attr.is_empty() || attr.contains(['"', ',', ' ']) {
                    return Err(format!("{key}{{{attr}}}: a bad attribute name"));
                }
                rest = &after[end + 1..];
                Some(attr.to_string())
            }
            None => None,
        };
        match (spec_attr, &attr) {
            (Some(true), None) => return Err(format!("{key} needs {{attribute}}")),
            (Some(false), Some(a)) => return Err(format!("{key} takes no {{{a}}}")),
            _ => {}
        }
        let op = ["==", "!=", "+=", "-=", ":=", "="]
            .into_iter()
            .find(|op| rest.starts_with(op))
            .ok_or_else(|| format!("{key}: no operator"))?;
        if !ops.contains(&op) {
            return Err(format!("{key}: operator {op} not allowed (only {ops:?})"));
        }
        rest = rest[op.len()..]
            .strip_prefix('"')
            .ok_or_else(|| format!("{key}{op}: the value must be in double quotes"))?;
        let end = rest
            .find('"')
            .ok_or_else(|| format!("{key}{op}: an unclosed value"))?;
        pairs.push(Pair {
            key: key.to_string(),
            attr,
            op: op.to_string(),
            value: rest[..end].to_string(),
        });
        rest = rest[end + 1..].trim_start();
        if rest.is_empty() {
            return Ok(pairs);
        }
        rest = rest
            .strip_prefix(',')
            .ok_or_else(|| format!("after {key}: expected a comma, found {rest:?}"))?
            .trim_start();
    }
}

/// README's vendor table: `| Vendor | `vid` | devices |` rows under the
/// heading that names the udev rules.
fn readme_vendors() -> BTreeSet<String> {
    let readme = read("README.md");
    let section = readme
        .split("\n### ")
        .find(|s| s.starts_with("USB devices and the udev rules"))
        .expect("README has a section \"### USB devices and the udev rules\"");
    let section = section.split("\n#").next().unwrap_or_default();
    section
        .lines()
        .filter(|l| l.starts_with('|'))
        .filter_map(|l| {
            let cell = l.split('|').nth(2)?.trim().trim_matches('`');
            (cell.len() == 4 && cell.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| cell.to_string())
        })
        .collect()
}

#[test]
fn udev_rules_parse_and_name_exactly_the_vendors_of_readmes_table() {
    let rules = parse_rules(&read(RULES)).unwrap_or_else(|e| panic!("{e}"));
    assert!(rules.len() >= 10, "{} rules", rules.len());
    let pairs: Vec<&Pair> = rules.iter().flat_map(|(_, p)| p).collect();

    let mut vendors = BTreeSet::new();
    for p in pairs
        .iter()
        .filter(|p| p.attr.as_deref() == Some("ID_VENDOR_ID"))
    {
        for vid in p.value.split('|') {
            assert!(
                vid.len() == 4 && vid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "vendor id {vid:?}: four lower-case hex digits, as udev's ID_VENDOR_ID"
            );
            vendors.insert(vid.to_string());
        }
    }
    let readme = readme_vendors();
    assert_eq!(
        vendors, readme,
        "the vendors of {RULES} and of README's table differ"
    );
    for vid in [
        "0c2e", "05e0", "05f9", "1eab", "04b8", "0519", "1504", "1d90",
    ] {
        assert!(vendors.contains(vid), "the issue's vendor {vid}");
    }
    assert!(
        pairs.iter().any(|p| p.attr.as_deref() == Some("ID_USB_INTERFACES")
            && p.value.contains(":07????:")),
        "any USB printer-class interface (07)"
    );

    // usblp left alone: nothing runs, nothing is unbound.
    assert!(pairs.iter().all(|p| p.key != "RUN"), "no RUN keys");
    assert!(!read(RULES)
        .lines()
        .any(|l| !l.starts_with('#') && l.contains("unbind")));

    for p in &pairs {
        match p.key.as_str() {
            "GROUP" => assert!(USER_GROUPS.contains(&p.value.as_str()), "GROUP={}", p.value),
            "MODE" => assert!(
                p.value.len() == 4
                    && p.value.bytes().all(|b| (b'0'..=b'7').contains(&b))
                    && p.value.ends_with(['0', '4']),
                "MODE={}: octal, nobody else may write",
                p.value
            ),
            "SYMLINK" => assert!(
                p.op == "+=" && p.value.starts_with("store-edge/"),
                "SYMLINK{}{}: added, under /dev/store-edge/",
                p.op,
                p.value
            ),
            _ => {}
        }
    }
    let labels: BTreeSet<_> = pairs
        .iter()
        .filter(|p| p.key == "LABEL")
        .map(|p| &p.value)
        .collect();
    for p in pairs.iter().filter(|p| p.key == "GOTO") {
        assert!(labels.contains(&p.value), "GOTO {:?} has no LABEL", p.value);
    }
}

#[test]
fn the_udev_parser_refuses_what_udev_would() {
    for (bad, why) in [
        ("KERNEL==\"ttyUSB*\", FOO=\"x\"", "unknown key"),
        ("KERNEL=\"ttyUSB*\"", "operator = not allowed"),
        ("ENV=\"x\"", "needs {attribute}"),
        ("GROUP+=dialout", "double quotes"),
        ("KERNEL==\"a\" GROUP=\"lp\"", "expected a comma"),
        ("SYMLINK+=\"store-edge/x", "unclosed value"),
    ] {
        let e = parse_rule(bad).expect_err(bad);
        assert!(e.contains(why), "{bad}: {e}");
    }
    let ok = parse_rule("SUBSYSTEMS==\"usb\", IMPORT{builtin}=\"usb_id\"").unwrap();
    assert_eq!((ok[1].key.as_str(), ok[1].op.as_str()), ("IMPORT", "="));
}

// -------------------------------------------------------- the packaged config

#[test]
fn the_packaged_config_is_the_documented_one_with_the_placeholder_id_and_udev_paths() {
    let documented = read("config/store-edge.toml");
    let packaged = read("packaging/store-edge.toml");
    let expected = documented.replacen("\nid = \"berlin-mitte-01\"\n", "\nid = \"CHANGE-ME\"\n", 1);
    assert_ne!(
        expected, documented,
        "config/store-edge.toml's id line moved"
    );
    assert!(
        packaged == expected,
        "packaging/store-edge.toml must be config/store-edge.toml with id = \"CHANGE-ME\"; \
         regenerate it: sed 's/^id = \"berlin-mitte-01\"$/id = \"CHANGE-ME\"/' \
         config/store-edge.toml > packaging/store-edge.toml"
    );

    // Every device path it shows is a name the udev rules make.
    let kinds: BTreeSet<String> = read(RULES)
        .lines()
        .filter_map(|l| l.split("SYMLINK+=\"store-edge/").nth(1))
        .filter_map(|s| s.split('-').next().map(str::to_string))
        .collect();
    let paths: Vec<&str> = packaged
        .split('"')
        .filter(|s| s.starts_with("/dev/"))
        .collect();
    assert!(paths.len() >= 3, "{paths:?}");
    for path in paths {
        let name = path
            .strip_prefix("/dev/store-edge/")
            .unwrap_or_else(|| panic!("{path}: not under /dev/store-edge/"));
        let kind = name.split('-').next().unwrap_or_default();
        assert!(
            kinds.contains(kind),
            "{path}: the rules make no {kind}-… link ({kinds:?})"
        );
    }

    // `config check` refuses the placeholder, saying what to set.
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("store-edge.toml");
    std::fs::write(&file, &packaged).expect("write");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&file)
        .args(["config", "check"])
        .output()
        .expect("run config check");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("store-edge.toml:9: `store.id` = \"CHANGE-ME\"")
            && stderr.contains("set `id` in [store]"),
        "{stderr}"
    );
}

// ------------------------------------------------- the package, installed

/// Root runs it; without root it is skipped, saying so, except under CI,
/// where it must run.
fn runs_as_root(test: &str) -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    if root {
        return true;
    }
    assert!(
        !ci,
        "{test}: under CI this test must run, as root (mmdebstrap --mode=root, chroot, dpkg)"
    );
    // Straight to stderr, past the test harness's capture: a skip is said.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: needs root for mmdebstrap, chroot and dpkg; CI runs it (CI=true, as root)"
    );
    false
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e} (scripts/test.sh installs it)"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn target_dir() -> PathBuf {
    Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

#[test]
fn the_deb_passes_lintian_installs_into_a_fresh_debian_root_runs_and_purges() {
    let test = "package::the_deb_passes_lintian_installs_into_a_fresh_debian_root_runs_and_purges";
    if !runs_as_root(test) {
        return;
    }
    let started = Instant::now();
    let mut last = started;
    let mut took = |step: &str| {
        eprintln!("{step}: {:.1} s", last.elapsed().as_secs_f64());
        last = Instant::now();
    };
    let work = target_dir().join("package");
    std::fs::create_dir_all(&work).expect("mkdir target/package");
    let deb = build_deb(&work);
    took("cargo deb");
    lintian_finds_no_error(&deb);
    took("lintian");
    contents_are_as_expected(&deb);
    let tarball = debian_root_tarball(&work, &deb);
    took("the Debian root's tarball");
    let root = tempfile::Builder::new()
        .prefix("root-")
        .tempdir_in(&work)
        .expect("root dir");
    let root = root.path();
    run(
        Command::new("tar")
            .arg("-xf")
            .arg(&tarball)
            .arg("-C")
            .arg(root),
        "unpack the Debian root",
    );
    took("unpacked");
    install_runs_postinst(root, &deb);
    took("dpkg -i");
    let port = configure_like_it(root);
    run_answers_readyz_as_store_edge(root, port);
    nightly_backup_writes_a_private_copy(root);
    took("configured, ran, backed up");
    remove_keeps_data_and_purge_removes_it(root);
    took("remove and purge");
    eprintln!(
        "package test: {:.0} s in all",
        started.elapsed().as_secs_f64()
    );
}

/// `cargo deb --no-build` on the release binary (built once: by
/// scripts/test.sh, or here when missing or stale).
fn build_deb(work: &Path) -> PathBuf {
    let _release = common::release_bin();
    let out = run(
        common::cargo()
            .args(["deb", "--no-build", "--strip", "--locked", "--output"])
            .arg(work),
        "cargo deb --no-build (cargo install cargo-deb --locked)",
    );
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find(|l| l.ends_with(".deb"))
        .map(|l| PathBuf::from(l.trim()))
        .expect("cargo deb prints the .deb's path");
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    assert!(
        name.starts_with("store-edge_") && name.ends_with("_amd64.deb"),
        "{name}"
    );
    path
}

/// No error and no warning, except the overrides the package ships (each
/// with its reason in packaging/lintian-overrides).
fn lintian_finds_no_error(deb: &Path) {
    let out = Command::new("lintian")
        .args(["--fail-on", "error,warning", "--tag-display-limit", "0"])
        .arg(deb)
        .stdin(Stdio::null())
        .output()
        .expect("lintian (scripts/test.sh installs it)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("lintian:\n{said}");
    assert!(out.status.success(), "lintian failed:\n{said}");
    assert!(
        !said
            .lines()
            .any(|l| l.starts_with("E:") || l.starts_with("W:")),
        "{said}"
    );
}

/// `dpkg-deb --contents`: every expected path with its mode and owner, and
/// nothing unexpected; the control fields the issue names.
fn contents_are_as_expected(deb: &Path) {
    let out = run(
        Command::new("dpkg-deb").arg("--contents").arg(deb),
        "dpkg-deb --contents",
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    let mut files = std::collections::BTreeMap::new();
    for line in listing.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (mode, owner, path) = (cols[0], cols[1], cols[5]);
        assert!(
            owner == "0/0" || owner == "root/root",
            "owned by root: {line}"
        );
        if !mode.starts_with('d') {
            files.insert(path.trim_start_matches('.').to_string(), mode.to_string());
        }
    }
    let expected = [
        ("/usr/bin/store-edge", "-rwxr-xr-x"),
        ("/etc/store-edge/store-edge.toml", "-rw-r--r--"),
        ("/usr/lib/udev/rules.d/70-store-edge.rules", "-rw-r--r--"),
        ("/usr/lib/systemd/system/store-edge.service", "-rw-r--r--"),
        (
            "/usr/lib/systemd/system/store-edge-backup.service",
            "-rw-r--r--",
        ),
        (
            "/usr/lib/systemd/system/store-edge-backup.timer",
            "-rw-r--r--",
        ),
        ("/usr/share/lintian/overrides/store-edge", "-rw-r--r--"),
        ("/usr/share/doc/store-edge/README.md", "-rw-r--r--"),
        ("/usr/share/doc/store-edge/copyright", "-rw-r--r--"),
        (
            "/usr/share/doc/store-edge/changelog.Debian.gz",
            "-rw-r--r--",
        ),
    ];
    for (path, mode) in expected {
        assert_eq!(
            files.get(path).map(String::as_str),
            Some(mode),
            "{path} in:\n{listing}"
        );
    }
    let known: BTreeSet<&str> = expected.iter().map(|(p, _)| *p).collect();
    let extra: Vec<_> = files
        .keys()
        .filter(|p| !known.contains(p.as_str()))
        .collect();
    assert!(extra.is_empty(), "unexpected files: {extra:?}");

    let field = |name: &str| {
        let out = run(
            Command::new("dpkg-deb").arg("--field").arg(deb).arg(name),
            "dpkg-deb --field",
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let depends = field("Depends");
    // ca-certificates: the sync client refuses to start without CA roots.
    for dep in ["adduser", "ca-certificates", "systemd", "tzdata", "libc6"] {
        assert!(
            depends.split(", ").any(|d| d.starts_with(dep)),
            "Depends: {depends}"
        );
    }
    let control = run(
        Command::new("dpkg-deb")
            .arg("--info")
            .arg(deb)
            .arg("conffiles"),
        "dpkg-deb --info conffiles",
    );
    assert_eq!(
        String::from_utf8_lossy(&control.stdout).trim(),
        "/etc/store-edge/store-edge.toml"
    );
}

/// A minimal Debian root of the host's release with the package's
/// dependencies (its Depends field, so `dpkg -i` needs no network), cached
/// under target/package/ by suite and package list.
fn debian_root_tarball(work: &Path, deb: &Path) -> PathBuf {
    let os = std::fs::read_to_string("/etc/os-release").expect("/etc/os-release");
    let suite = os
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|s| s.trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .expect("VERSION_CODENAME in /etc/os-release (a Debian host)");
    let depends = run(
        Command::new("dpkg-deb")
            .arg("--field")
            .arg(deb)
            .arg("Depends"),
        "dpkg-deb --field",
    );
    let include: Vec<String> = String::from_utf8_lossy(&depends.stdout)
        .split(',')
        .filter_map(|d| d.split_whitespace().next().map(str::to_string))
        .collect();
    let include = include.join(",");
    let tarball = work.join(format!(
        "debian-{suite}-essential-{}.tar",
        include.replace(',', "+")
    ));
    if tarball.exists() {
        return tarball;
    }
    // The host's own apt sources: the same mirror and suites it installs from.
    let sources = [
        "/etc/apt/sources.list.d/debian.sources",
        "/etc/apt/sources.list",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("the host's apt sources");
    // mmdebstrap picks the format by the extension: a .tar it must be.
    let partial = work.join("debian-root.partial.tar");
    let started = Instant::now();
    run(
        Command::new("mmdebstrap")
            .args(["--quiet", "--mode=root", "--variant=essential"])
            .arg(format!("--include={include}"))
            .arg(&suite)
            .arg(&partial)
            .arg(sources),
        "mmdebstrap (scripts/test.sh installs it)",
    );
    std::fs::rename(&partial, &tarball).expect("rename the tarball");
    eprintln!(
        "mmdebstrap {suite}: {:.0} s",
        started.elapsed().as_secs_f64()
    );
    tarball
}

/// A command inside the root, with a clean environment.
fn chroot(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("chroot");
    cmd.arg(root)
        .args(args)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("LANG", "C.UTF-8")
        .env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

fn user_ids(root: &Path, name: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).expect("passwd");
    let line = passwd
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no user {name} in:\n{passwd}"));
    let cols: Vec<&str> = line.split(':').collect();
    assert!(cols[6].ends_with("nologin"), "{line}");
    (cols[2].parse().expect("uid"), cols[3].parse().expect("gid"))
}

/// `dpkg -i`: postinst creates the groups (`input` is missing from a
/// minimal root), the user and the state directory, enables both units and
/// does not start the service: `config check` refuses "CHANGE-ME".
fn install_runs_postinst(root: &Path, deb: &Path) {
    let group = std::fs::read_to_string(root.join("etc/group")).expect("group");
    assert!(
        !group.lines().any(|l| l.starts_with("input:")),
        "the root must lack `input`"
    );
    std::fs::copy(deb, root.join("tmp/store-edge.deb")).expect("copy the deb");
    let out = run(
        &mut chroot(root, &["dpkg", "-i", "/tmp/store-edge.deb"]),
        "dpkg -i",
    );
    let said = String::from_utf8_lossy(&out.stderr);
    eprintln!("dpkg -i said:\n{said}");
    assert!(
        said.contains("store-edge: not started") && said.contains("`store.id` = \"CHANGE-ME\""),
        "postinst says why it did not start:\n{said}"
    );

    let (uid, gid) = user_ids(root, "store-edge");
    assert!(uid < 1000, "a system user: {uid}");
    let group = std::fs::read_to_string(root.join("etc/group")).expect("group");
    for g in USER_GROUPS {
        let line = group
            .lines()
            .find(|l| l.starts_with(&format!("{g}:")))
            .unwrap_or_else(|| panic!("group {g} missing"));
        assert!(
            line.rsplit(':')
                .next()
                .unwrap_or("")
                .split(',')
                .any(|m| m == "store-edge"),
            "{line}"
        );
    }
    let state = std::fs::metadata(root.join("var/lib/store-edge")).expect("state dir");
    assert_eq!(
        (state.uid(), state.gid(), state.mode() & 0o7777),
        (uid, gid, 0o700)
    );

    for (wants, unit) in [
        ("multi-user.target.wants", "store-edge.service"),
        ("timers.target.wants", "store-edge-backup.timer"),
    ] {
        let link = root.join("etc/systemd/system").join(wants).join(unit);
        let to = std::fs::read_link(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display()));
        assert!(to.ends_with(unit), "{} -> {}", link.display(), to.display());
    }
    let conf = std::fs::metadata(root.join("etc/store-edge/store-edge.toml")).expect("config");
    assert_eq!(conf.mode() & 0o7777, 0o644);
}

/// What IT does: the two secret files 0640 root:store-edge, the store's id;
/// here also a loopback `api.listen` on a free port and a loopback central
/// (nothing leaves the machine). Then `config check` passes, as root and as
/// the service user.
fn configure_like_it(root: &Path) -> u16 {
    let etc = root.join("etc/store-edge");
    let (_, gid) = user_ids(root, "store-edge");
    let secret = |name: &str, contents: String| {
        let path = etc.join(name);
        std::fs::write(&path, contents).expect("write secret");
        std::os::unix::fs::chown(&path, Some(0), Some(gid)).expect("chown");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    };
    // Throwaway values made now: 64 hex characters each.
    let mut rng = common::Rng::seeded();
    let mut random = || {
        (0..4)
            .map(|_| format!("{:016x}", rng.next()))
            .collect::<String>()
    };
    secret("central.token", format!("pkg-test-{}\n", random()));
    secret("loyalty.key", format!("{}\n", random()));

    let port = free_port();
    let path = etc.join("store-edge.toml");
    let mut text = std::fs::read_to_string(&path).expect("config");
    for (line, with) in [
        (
            "id = \"CHANGE-ME\"".to_string(),
            "id = \"pkg-test-01\"".to_string(),
        ),
        (
            "listen = \"0.0.0.0:8080\"".into(),
            format!("listen = \"127.0.0.1:{port}\""),
        ),
        (
            "url = \"https://central.example.com\"".into(),
            format!("url = \"http://127.0.0.1:{}\"", free_port()),
        ),
    ] {
        assert!(
            text.contains(&format!("\n{line}\n")),
            "the shipped config lacks {line}"
        );
        text = text.replacen(&line, &with, 1);
    }
    std::fs::write(&path, text).expect("write config");

    run(
        &mut chroot(root, &["store-edge", "config", "check"]),
        "config check as root",
    );
    run(
        &mut chroot(
            root,
            &[
                "setpriv",
                "--reuid=store-edge",
                "--regid=store-edge",
                "--init-groups",
                "--",
                "store-edge",
                "config",
                "check",
            ],
        ),
        "config check as store-edge",
    );
    port
}

/// The unit's ExecStart, started as the unit's User= inside the root
/// (systemd does not run in a chroot), answers `/readyz`; SIGTERM stops it
/// with exit 0.
/// A unit's ExecStart as systemd would start it, inside the root: as the
/// unit's User= (setpriv with its groups) and with its UMask= (set by a
/// shell that then becomes the command: exec all the way, one pid).
fn unit_command(root: &Path, unit_name: &str) -> Command {
    let unit = std::fs::read_to_string(root.join("usr/lib/systemd/system").join(unit_name))
        .unwrap_or_else(|e| panic!("installed {unit_name}: {e}"));
    let value = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("{key} in {unit_name}"))
    };
    assert_eq!(
        value("User="),
        "store-edge",
        "{unit_name} runs as store-edge"
    );
    let mut args = vec![
        "sh",
        "-c",
        "umask \"$0\" && exec \"$@\"",
        value("UMask="),
        "setpriv",
        "--reuid=store-edge",
        "--regid=store-edge",
        "--init-groups",
        "--",
    ];
    args.extend(value("ExecStart=").split_whitespace());
    chroot(root, &args)
}

fn run_answers_readyz_as_store_edge(root: &Path, port: u16) {
    let mut child = unit_command(root, "store-edge.service")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start store-edge run");
    let deadline = Instant::now() + DEADLINE;
    let ready = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
            panic!("store-edge run exited ({status}) before /readyz:\n{err}");
        }
        if http_status(port, "/readyz") == Some(200) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = common::wait_with_deadline(&mut child);
    let mut err = String::new();
    let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
    assert!(ready, "no 200 from /readyz within the deadline:\n{err}");
    assert!(
        status.success(),
        "SIGTERM ends it with 0, not {status}:\n{err}"
    );
    let db =
        std::fs::metadata(root.join("var/lib/store-edge/store-edge.db")).expect("the database");
    assert_eq!(
        db.mode() & 0o077,
        0,
        "the database is private to store-edge"
    );
}

/// What the nightly timer starts: store-edge-backup.service's ExecStart, as
/// its user, writes one private copy into the default `[backup] dir`.
fn nightly_backup_writes_a_private_copy(root: &Path) {
    run(
        &mut unit_command(root, "store-edge-backup.service"),
        "store-edge-backup.service's ExecStart",
    );
    let dir = root.join("var/lib/store-edge/backups");
    let copies: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    let name = copies[0]
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    assert!(
        name.starts_with("store-edge-pkg-test-01-") && name.ends_with(".db"),
        "{name}"
    );
    let meta = std::fs::metadata(&copies[0]).expect("backup");
    let (uid, _) = user_ids(root, "store-edge");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (uid, 0o600), "{name}");
}

/// The status code of a GET on 127.0.0.1, or None when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// `dpkg -r` keeps the database and the config; `dpkg --purge` removes both
/// and the units' state, and keeps the system user (README says why).
fn remove_keeps_data_and_purge_removes_it(root: &Path) {
    run(&mut chroot(root, &["dpkg", "-r", "store-edge"]), "dpkg -r");
    assert!(!root.join("usr/bin/store-edge").exists());
    assert!(!root
        .join("usr/lib/udev/rules.d/70-store-edge.rules")
        .exists());
    assert!(
        root.join("var/lib/store-edge/store-edge.db").exists(),
        "remove keeps the database"
    );
    assert!(
        root.join("etc/store-edge/store-edge.toml").exists(),
        "remove keeps the config"
    );
    assert!(root.join("etc/store-edge/loyalty.key").exists());

    run(
        &mut chroot(root, &["dpkg", "--purge", "store-edge"]),
        "dpkg --purge",
    );
    for gone in [
        "var/lib/store-edge",
        "etc/store-edge",
        "etc/systemd/system/multi-user.target.wants/store-edge.service",
        "etc/systemd/system/timers.target.wants/store-edge-backup.timer",
        "var/lib/systemd/deb-systemd-helper-enabled/store-edge.service.dsh-also",
        "var/lib/systemd/deb-systemd-helper-enabled/store-edge-backup.timer.dsh-also",
    ] {
        assert!(
            std::fs::symlink_metadata(root.join(gone)).is_err(),
            "purge leaves {gone}"
        );
    }
    // Kept: the system user and group (README, "Installing in a store").
    user_ids(root, "store-edge");
}
