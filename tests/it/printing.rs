//! Receipt printing from the command line: `store-edge print preview`
//! renders every template through the encoder and the virtual printer of
//! the real binary. The previews are written to `target/print-previews/`
//! (scripts/test.sh lists them) so a person can look at the paper.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::BIN;

const TEMPLATES: [&str; 4] = ["pickup_slip", "handover_confirmation", "receipt", "test"];
/// 32 and 48 columns: (profile, columns, dots).
const PROFILES: [(&str, usize, u32); 2] = [("generic_58", 32, 384), ("epson_tm_t20", 48, 576)];

fn fixture(template: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/print/templates")
        .join(format!("{template}.json"))
}

fn preview(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["print", "preview"])
        .args(args)
        // No config anywhere: a preview must not need one.
        .env("STORE_EDGE_CONFIG", "/nonexistent/store-edge.toml")
        .output()
        .expect("run store-edge print preview")
}

/// The width and height in a PNG's IHDR.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(png.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]), "not a PNG");
    let be = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    (be(16), be(20))
}

#[test]
fn every_template_previews_at_32_and_48_columns_readable_and_nothing_cut_off() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/print-previews");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create target/print-previews");
    for template in TEMPLATES {
        for (profile, columns, dots) in PROFILES {
            for language in ["de", "en"] {
                let png = dir.join(format!("{template}.{profile}.{language}.png"));
                let data = fixture(template);
                let out = preview(&[
                    template,
                    "--data",
                    data.to_str().expect("utf8 path"),
                    "--profile",
                    profile,
                    "--code-page",
                    "pc858",
                    "--language",
                    language,
                    "--png",
                    png.to_str().expect("utf8 path"),
                ]);
                let text = String::from_utf8(out.stdout).expect("utf8 text");
                let what = format!("{template} on {profile} in {language}");
                assert!(
                    out.status.success(),
                    "{what}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let wanted = if template == "test" {
                    "counter"
                } else {
                    "S-0042-17"
                };
                assert!(text.contains(wanted), "{what}: no {wanted}:\n{text}");
                assert!(text.contains('€'), "{what}: no €:\n{text}");
                assert!(
                    ["ä", "ö", "ü", "ß"].iter().any(|u| text.contains(u)),
                    "{what}: no umlaut:\n{text}"
                );
                for line in text.lines() {
                    assert!(
                        line.chars().count() <= columns,
                        "{what}: wider than {columns} columns: {line:?}"
                    );
                }
                let bytes = std::fs::read(&png).expect("the PNG was written");
                let (w, h) = png_size(&bytes);
                assert_eq!(w, dots, "{what}: the picture is the paper's width");
                assert!(h > 200, "{what}: a picture {h} dots high");
                println!("print preview: {}", png.display());
            }
        }
    }
}

#[test]
fn the_same_template_speaks_german_or_english() {
    let data = fixture("pickup_slip");
    let data = data.to_str().expect("utf8 path");
    let de = preview(&["pickup_slip", "--data", data]);
    let en = preview(&["pickup_slip", "--data", data, "--language", "en"]);
    let (de, en) = (
        String::from_utf8_lossy(&de.stdout),
        String::from_utf8_lossy(&en.stdout),
    );
    assert!(de.starts_with("Abholschein\n"), "{de}");
    assert!(en.starts_with("Pickup slip\n"), "{en}");
}

#[test]
fn print_preview_refuses_unknown_templates_profiles_and_bad_data_with_exit_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = tmp.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"order_id": "S-1", "customer": "A", "shelf": "B", "lines": [], "colour": "red"}"#,
    )
    .expect("write");
    let wrong_type = tmp.path().join("wrong_type.json");
    std::fs::write(
        &wrong_type,
        r#"{"order_id": "S-1", "customer": "A", "shelf": "B",
            "lines": [{"name": "x", "quantity": 1}, {"name": "y", "quantity": "two"}]}"#,
    )
    .expect("write");
    let missing = tmp.path().join("missing.json");
    let good = fixture("pickup_slip");
    for (args, says) in [
        (
            vec!["invoice", "--data", good.to_str().expect("utf8")],
            "no template invoice",
        ),
        (
            vec![
                "pickup_slip",
                "--data",
                good.to_str().expect("utf8"),
                "--profile",
                "tm_x",
            ],
            "no printer profile tm_x",
        ),
        (
            vec!["pickup_slip", "--data", bad.to_str().expect("utf8")],
            "colour",
        ),
        (
            vec!["pickup_slip", "--data", wrong_type.to_str().expect("utf8")],
            "at lines[1].quantity: invalid type: string",
        ),
        (
            vec!["pickup_slip", "--data", missing.to_str().expect("utf8")],
            "cannot read",
        ),
        (
            vec!["receipt", "--data", good.to_str().expect("utf8")],
            "transaction_id",
        ),
    ] {
        let out = preview(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing printed");
    }
}

#[test]
fn print_preview_help_explains_templates_and_profiles() {
    let out = preview(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for word in [
        "pickup_slip",
        "handover_confirmation",
        "receipt",
        "test",
        "generic_58",
        "--png",
    ] {
        assert!(help.contains(word), "{word}: {help}");
    }
}

#[test]
fn a_logo_png_prints_at_the_top_shrunk_to_the_paper_and_a_bad_one_is_exit_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/print");
    let logo = fixtures.join("logo.png");
    let data = fixture("test");
    // The sample logo is 480 x 192: shrunk on 58 mm, as it is on 80 mm.
    for (profile, size) in [
        ("generic_58", "384 x 153 dots"),
        ("epson_tm_t20", "480 x 192 dots"),
    ] {
        let png = tmp.path().join(format!("test.{profile}.logo.png"));
        let out = preview(&[
            "test",
            "--data",
            data.to_str().expect("utf8"),
            "--profile",
            profile,
            "--logo",
            logo.to_str().expect("utf8"),
            "--png",
            png.to_str().expect("utf8"),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{profile}: {stderr}");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("Logo"))
            .expect("a Logo line");
        assert!(line.ends_with(size), "{profile}: {line}");
        // The logo comes first: the paper's top 150 rows have black dots.
        let bytes = std::fs::read(&png).expect("the PNG was written");
        let mut reader = png::Decoder::new(std::io::Cursor::new(&bytes))
            .read_info()
            .expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let frame = reader.next_frame(&mut buf).expect("pixels");
        let top = &buf[..frame.line_size * 150];
        assert!(
            top.iter().any(|b| *b != 0xFF),
            "{profile}: no logo at the top"
        );
        // For people to look at, next to the other previews.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/print-previews");
        std::fs::create_dir_all(&dir).expect("create target/print-previews");
        let kept = dir.join(format!("test.{profile}.logo.png"));
        std::fs::copy(&png, &kept).expect("copy the preview");
        println!("print preview: {}", kept.display());
    }
    let bad = tmp.path().join("logo.gif");
    std::fs::write(&bad, b"GIF89a").expect("write");
    let out = preview(&[
        "test",
        "--data",
        data.to_str().expect("utf8"),
        "--logo",
        bad.to_str().expect("utf8"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a PNG"), "{stderr}");
    assert!(out.stdout.is_empty());
}
