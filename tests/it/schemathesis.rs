//! The API contract (issue 14): schemathesis, pinned and installed by
//! `scripts/test.sh` into `target/schemathesis`, against the
//! `/api/openapi.json` of a running service with an admin token, the
//! built-in fake central (so the order lists hold orders) and a simulated
//! printer. Checks: no server error, every status code, content type,
//! header and body as the document says. Bounded: 60 examples per
//! operation, a fixed seed (the run is the same on every machine; change
//! `SEED` to explore further).

use std::path::PathBuf;
use std::process::Command;

use crate::common::Service;

/// The version `scripts/test.sh` installs.
const VERSION: &str = "4.32.5";
const SEED: &str = "14";

fn st() -> PathBuf {
    let st = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/schemathesis/bin/st");
    let version = Command::new(&st).arg("--version").output();
    match version {
        Ok(out) if String::from_utf8_lossy(&out.stdout).contains(VERSION) => st,
        _ => panic!(
            "schemathesis {VERSION} is not installed at {}: run scripts/test.sh, which installs it into a venv there",
            st.display()
        ),
    }
}

#[tokio::test]
async fn the_running_api_answers_as_its_openapi_document_says() {
    let st = st();
    let mut svc = Service::new("", "");
    let printer = svc.dir.path().join("printer.bin");
    svc.write_config(
        "",
        &format!("[central]\nfake = true\n\n[[devices]]\nid = \"counter\"\nkind = \"printer\"\ntransport = \"simulated\"\nprofile = \"epson_tm_t20\"\npath = \"{}\"\n", printer.display()),
    );
    let token = svc.token("admin", "schemathesis");
    svc.start().await;
    let out = Command::new(st)
        .current_dir(svc.dir.path())
        .arg("--no-color")
        .arg("run")
        .arg(svc.url("/api/openapi.json"))
        .arg("--header")
        .arg(format!("Authorization: Bearer {token}"))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "60",
            "--seed",
            SEED,
            "--request-timeout",
            "10",
            // The live stream never ends by design; tests/it/api.rs and
            // kpi_api.rs read it.
            "--exclude-path",
            "/api/v1/stream",
        ])
        .output()
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found mismatches:\n{report}\n{}\nservice log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        svc.log_text()
    );
    assert!(report.contains("passed"), "{report}");
    assert!(svc.term().success());
}
