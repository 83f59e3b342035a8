//! Tablet pairing from a hostile store network: wrong codes are counted per
//! source address, a guesser gets 429 without voiding IT's open code, and
//! the log gets a summary instead of a line per try.

use std::net::IpAddr;

use crate::common::{self, http_builder, Service};
use serde_json::json;

fn client_from(addr: [u8; 4]) -> reqwest::Client {
    http_builder()
        .local_address(IpAddr::from(addr))
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pairing_codes_from_one_address_get_429_and_never_void_the_open_code() {
    let mut svc = Service::new("", "");
    svc.start().await;
    let code = svc.pairing_code("counter-1");
    let guesser = client_from([127, 0, 0, 1]);
    let pair = |client: &reqwest::Client, code: &str| {
        client
            .post(svc.url("/api/v1/tablets/pair"))
            .json(&json!({"code": code, "name": "counter tablet"}))
            .send()
    };
    let wrong: Vec<String> = (0..20u32)
        .map(|i| format!("{:08}", 10_000_000 + i * 7))
        .filter(|c| *c != code)
        .take(11)
        .collect();
    for (i, w) in wrong[..10].iter().enumerate() {
        let r = pair(&guesser, w).await.expect("pair");
        assert_eq!(r.status(), 422, "wrong code #{}", i + 1);
    }
    let r = pair(&guesser, &wrong[10]).await.expect("pair");
    assert_eq!(r.status(), 429, "the 11th try from the same address");
    let retry_after: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    let problem: serde_json::Value = r.json().await.expect("problem+json");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("try again")),
        "{problem}"
    );
    // The blocked address stays blocked, even with the right code.
    assert_eq!(pair(&guesser, &code).await.expect("pair").status(), 429);

    // IT's open code still pairs the real tablet from another address.
    let tablet = client_from([127, 0, 0, 2]);
    let r = pair(&tablet, &code).await.expect("pair");
    assert_eq!(r.status(), 200, "the open code was not voided");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["register"], "counter-1");

    // One summary line, not one WARN per try.
    let log = svc.log_text();
    let warns = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("pairing"))
        .count();
    assert!(
        (1..=2).contains(&warns),
        "{warns} WARN lines about pairing:\n{log}"
    );
    assert!(
        !common::contains_number(log.as_bytes(), &code),
        "no code in the log"
    );
}

/// Review of issue 10: a paired tablet's `name` (stored with its token and
/// listed by `token list`) was the one free text not screened for card
/// numbers. Refused with 422 `card_number`, never stored, and the code
/// stays open for a name without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_number_in_a_tablets_name_is_refused_and_the_code_stays_open() {
    let mut svc = Service::new("", "");
    svc.start().await;
    let code = svc.pairing_code("counter-1");
    let client = client_from([127, 0, 0, 1]);
    let pair = |name: &'static str| {
        client
            .post(svc.url("/api/v1/tablets/pair"))
            .json(&json!({"code": code, "name": name}))
            .send()
    };
    let r = pair("tablet 4111 1111 1111 1111").await.expect("pair");
    assert_eq!(r.status(), 422);
    let text = r.text().await.expect("problem");
    let problem: serde_json::Value = serde_json::from_str(&text).expect("problem+json");
    assert_eq!(problem["reason"], "card_number", "{text}");
    assert_eq!(problem["field"], "name", "{text}");
    assert!(!text.contains("4111"), "{text}");
    let r = pair("counter tablet").await.expect("pair");
    assert_eq!(r.status(), 200, "the code is still open");
    svc.term();
    for entry in std::fs::read_dir(svc.db.parent().expect("data dir")).expect("data dir") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        assert!(
            !common::contains_number(&bytes, "4111111111111111")
                && !bytes.windows(19).any(|w| w == b"4111 1111 1111 1111"),
            "the card number reached the disk"
        );
    }
}
