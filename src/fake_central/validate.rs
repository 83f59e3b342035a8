//! Judges one CloudEvent as central does (events.md): the envelope here,
//! the data through `crate::events::catalog`, which alone knows the field
//! rules. The reason names the field, so the edge's quarantine says what
//! to fix. It must never echo a subject or data value (a clear card number
//! sent by mistake must not travel back), and never panic on any JSON.

use serde_json::{Map, Value};

use crate::events::catalog::{lookup, EventType};
use crate::events::parse_time;

const STAGES: &[&str] = &[
    "awareness",
    "consideration",
    "decision",
    "service",
    "loyalty",
];

/// `Ok` if central accepts the event's form; `Err(reason)` if it rejects
/// it. `source` is this store's `urn:store-edge:<storeId>`.
pub(crate) fn check_event(event: &Value, source: &str) -> Result<(), String> {
    let Some(obj) = event.as_object() else {
        return Err("the event is not a JSON object".into());
    };
    if text(obj, "specversion")? != "1.0" {
        return Err("`specversion` must be \"1.0\"".into());
    }
    if text(obj, "id")?.is_empty() {
        return Err("`id` must not be empty".into());
    }
    let given_source = text(obj, "source")?;
    if given_source != source {
        return Err(format!(
            "`source` must be `{source}` (the store of this URL), found `{given_source}`"
        ));
    }
    let type_name = text(obj, "type")?;
    if !type_name.starts_with("store.") {
        return Err("`type` must start with `store.` (see events.md)".into());
    }
    if parse_time(text(obj, "time")?).is_err() {
        return Err("`time` must be an RFC 3339 date-time such as 2026-11-26T10:00:00Z".into());
    }
    if text(obj, "datacontenttype")? != "application/json" {
        return Err("`datacontenttype` must be \"application/json\"".into());
    }
    check_sequence(text(obj, "sequence")?)?;
    let data = match obj.get("data") {
        Some(data) if data.is_object() => data,
        Some(_) => return Err("`data` must be a JSON object".into()),
        None => return Err("`data` is required".into()),
    };
    let subject = optional_text(obj, "subject")?;
    let stage = optional_text(obj, "journeystage")?;
    if let Some(stage) = stage {
        if !STAGES.contains(&stage) {
            return Err(format!(
                "`journeystage` must be one of {}",
                STAGES.join(", ")
            ));
        }
    }
    match lookup(type_name) {
        Some(event_type) => check_catalog(event_type, data, subject, stage),
        // events.md may grow; central keeps unknown store.* types as they are.
        None => Ok(()),
    }
}

/// The parts of the contract the catalog knows: data fields, the stage of
/// the type, and the subject derived from the data.
fn check_catalog(
    event_type: &EventType,
    data: &Value,
    subject: Option<&str>,
    stage: Option<&str>,
) -> Result<(), String> {
    event_type.validate(data).map_err(|e| e.to_string())?;
    let Some(data) = data.as_object() else {
        return Err("`data` must be a JSON object".into());
    };
    match (event_type.stage, stage) {
        (Some(want), Some(got)) if want.as_str() == got => {}
        (Some(want), _) => {
            return Err(format!(
                "`journeystage` must be `{}` for {}",
                want.as_str(),
                event_type.name
            ))
        }
        (None, Some(_)) => {
            return Err(format!(
                "`journeystage` must be omitted for {}",
                event_type.name
            ))
        }
        (None, None) => {}
    }
    let field = event_type.subject_field;
    match (subject, event_type.subject_of(data)) {
        (Some(given), Some(expected)) if given == expected => Ok(()),
        (Some(_), Some(_)) => Err(format!(
            "`subject` must equal data field `{field}` for {}",
            event_type.name
        )),
        (None, Some(_)) => Err(format!(
            "`subject` is missing; it must be data field `{field}` for {}",
            event_type.name
        )),
        (Some(_), None) => Err(format!(
            "`subject` must be omitted when data has no `{field}` ({})",
            event_type.name
        )),
        (None, None) => Ok(()),
    }
}

/// A required string attribute.
fn text<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    match obj.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("`{name}` must be a string")),
        None => Err(format!("`{name}` is required")),
    }
}

/// An optional string attribute.
fn optional_text<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{name}` must be a string")),
    }
}

/// A decimal string without leading zeros, from "1" to u64::MAX.
fn check_sequence(s: &str) -> Result<(), String> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0');
    if digits && s.parse::<u64>().is_ok() {
        Ok(())
    } else {
        Err("`sequence` must be a decimal string from \"1\" up, without leading zeros".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SOURCE: &str = "urn:store-edge:s1";
    const TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    fn event() -> Value {
        json!({
            "specversion": "1.0",
            "id": "0190c4b2-0000-7000-8000-000000000001",
            "source": SOURCE,
            "type": "store.loyalty.identified",
            "subject": TOKEN,
            "time": "2026-11-26T10:00:00.000Z",
            "datacontenttype": "application/json",
            "sequence": "1",
            "journeystage": "loyalty",
            "recordedat": "2026-11-26T10:00:00.001Z",
            "data": {"customer_token": TOKEN, "method": "barcode", "device_id": "d1"}
        })
    }

    /// Applies `edit` to a valid event and checks the verdict: `Ok(())`, or
    /// `Err(part)` where `part` must appear in the reason.
    fn check(edit: impl FnOnce(&mut Value), expect: Result<(), &str>) {
        let mut e = event();
        edit(&mut e);
        match (check_event(&e, SOURCE), expect) {
            (Ok(()), Ok(())) => {}
            (Err(got), Err(want)) => assert!(got.contains(want), "{got:?} lacks {want:?}"),
            (got, want) => panic!("{e}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn a_well_formed_event_passes() {
        check(|_| {}, Ok(()));
    }

    #[test]
    fn envelope_rules() {
        check(|e| e["specversion"] = json!("0.3"), Err("`specversion`"));
        check(|e| e["id"] = json!(""), Err("`id`"));
        check(|e| e["id"] = json!(7), Err("`id` must be a string"));
        check(
            |e| e["source"] = json!("urn:store-edge:s2"),
            Err("`source`"),
        );
        check(|e| e["type"] = json!("shop.thing"), Err("`type`"));
        check(|e| e["time"] = json!("yesterday"), Err("`time`"));
        check(
            |e| e["datacontenttype"] = json!("text/plain"),
            Err("`datacontenttype`"),
        );
        check(
            |e| e["data"] = json!([1]),
            Err("`data` must be a JSON object"),
        );
        check(
            |e| e["journeystage"] = json!("bliss"),
            Err("`journeystage` must be one of"),
        );
        check(
            |e| e["subject"] = json!(5),
            Err("`subject` must be a string"),
        );
        check(
            |e| {
                e.as_object_mut().map(|o| o.remove("data"));
            },
            Err("`data` is required"),
        );
    }

    #[test]
    fn sequence_is_a_positive_decimal_without_leading_zeros() {
        for good in ["1", "42", "18446744073709551615"] {
            check(|e| e["sequence"] = json!(good), Ok(()));
        }
        for bad in ["0", "01", "", "-1", "1.0", "abc", "18446744073709551616"] {
            check(|e| e["sequence"] = json!(bad), Err("`sequence`"));
        }
        check(
            |e| e["sequence"] = json!(1),
            Err("`sequence` must be a string"),
        );
    }

    #[test]
    fn catalog_rules() {
        check(
            |e| e["data"]["customer_token"] = json!("4111111111111111"),
            Err("`customer_token`"),
        );
        check(
            |e| {
                e["data"].as_object_mut().map(|d| d.remove("method"));
            },
            Err("`method` is required"),
        );
        check(
            |e| e["journeystage"] = json!("decision"),
            Err("must be `loyalty`"),
        );
        check(
            |e| {
                e.as_object_mut().map(|o| o.remove("journeystage"));
            },
            Err("must be `loyalty`"),
        );
        check(
            |e| e["subject"] = json!("BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"),
            Err("`subject` must equal data field `customer_token`"),
        );
        check(
            |e| {
                e.as_object_mut().map(|o| o.remove("subject"));
            },
            Err("`subject` is missing"),
        );
    }

    #[test]
    fn subject_follows_an_optional_field() {
        let feedback = |e: &mut Value| {
            e["type"] = json!("store.feedback.submitted");
            e["data"] = json!({"score": 9, "context": "checkout"});
        };
        check(
            |e| {
                feedback(e);
                e.as_object_mut().map(|o| o.remove("subject"));
            },
            Ok(()),
        );
        check(feedback, Err("`subject` must be omitted"));
    }

    #[test]
    fn device_status_has_no_stage() {
        let status = |e: &mut Value| {
            e["type"] = json!("store.device.status");
            e["subject"] = json!("scanner-1");
            e["data"] = json!({"device_id": "scanner-1", "kind": "scanner", "state": "online"});
        };
        check(
            |e| {
                status(e);
                e.as_object_mut().map(|o| o.remove("journeystage"));
            },
            Ok(()),
        );
        check(
            |e| {
                status(e);
                e["journeystage"] = json!("service");
            },
            Err("must be omitted for store.device.status"),
        );
    }

    #[test]
    fn unknown_store_types_skip_data_checks() {
        check(
            |e| {
                e["type"] = json!("store.future.thing");
                e["data"] = json!({"anything": 1});
            },
            Ok(()),
        );
    }

    #[test]
    fn reasons_never_echo_the_subject() {
        let mut e = event();
        e["subject"] = json!("4111111111111111");
        let reason = check_event(&e, SOURCE).unwrap_err();
        assert!(!reason.contains("4111"), "{reason}");
    }
}
