//! The event catalog of `shared/contracts/events.md` as one explicit table:
//! type → journey stage, subject field, data fields, and who may produce it.
//!
//! This table is the only place that knows the contract's field rules; the
//! local API, the fake central and the producers inside the service all
//! validate through it. It must never accept a clear card number where a
//! `customer_token` belongs.

use serde_json::{Map, Value};

/// The five journey stages of events.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Awareness,
    Consideration,
    Decision,
    Service,
    Loyalty,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Awareness => "awareness",
            Stage::Consideration => "consideration",
            Stage::Decision => "decision",
            Stage::Service => "service",
            Stage::Loyalty => "loyalty",
        }
    }
}

/// Who may record an event of a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Producer {
    /// Tills, tablets and other local clients may post it to the API.
    Client,
    /// Only the service itself records it (pickup workflow, devices);
    /// the API refuses it with 403.
    Service,
}

/// What a data field must look like.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Any non-empty string.
    Text,
    /// One of the listed strings.
    OneOf(&'static [&'static str]),
    /// An integer within the bounds.
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    /// A pseudonymous customer token: 43 characters of base64url.
    CustomerToken,
    /// A masked number: `****` followed by at most 4 characters.
    Masked,
    /// 14 digits.
    Gtin14,
    /// `YYYY-MM-DD`.
    Date,
    /// RFC 3339 date-time.
    DateTime,
    /// An AIM symbology identifier such as `]E0`.
    Symbology,
    /// ISO 4217 alphabetic code.
    Currency,
    /// An array of non-empty strings.
    StringArray,
    /// An array of `{line_id, quantity_handed}` objects.
    HandoverLines,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

const fn opt(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}

#[derive(Debug)]
pub struct EventType {
    pub name: &'static str,
    pub stage: Option<Stage>,
    /// The data field whose value becomes the CloudEvents `subject`.
    pub subject_field: &'static str,
    pub producer: Producer,
    pub fields: &'static [Field],
}

const ANY_INT: Kind = Kind::Int {
    min: i64::MIN,
    max: i64::MAX,
};
const COUNT: Kind = Kind::Int {
    min: 0,
    max: i64::MAX,
};
const CHANNELS: &[&str] = &["web", "app", "chat", "phone", "marketplace", "store"];

const ORDER_ANNOUNCED: &[Field] = &[
    req("order_id", Kind::Text),
    req(
        "version",
        Kind::Int {
            min: 1,
            max: i64::MAX,
        },
    ),
    req("channel", Kind::OneOf(CHANNELS)),
    req("item_count", COUNT),
    req("pickup_by", Kind::DateTime),
];

/// Every type of events.md, in the order of its table.
pub const CATALOG: &[EventType] = &[
    EventType {
        name: "store.loyalty.identified",
        stage: Some(Stage::Loyalty),
        subject_field: "customer_token",
        producer: Producer::Client,
        fields: &[
            req("customer_token", Kind::CustomerToken),
            req(
                "method",
                Kind::OneOf(&["barcode", "magstripe", "nfc", "manual", "app"]),
            ),
            req("device_id", Kind::Text),
            opt("number_masked", Kind::Masked),
            opt("program", Kind::Text),
            opt("register_id", Kind::Text),
            opt("transaction_id", Kind::Text),
        ],
    },
    EventType {
        name: "store.product.scanned",
        stage: Some(Stage::Consideration),
        subject_field: "gtin",
        producer: Producer::Client,
        fields: &[
            req("symbology", Kind::Symbology),
            req("device_id", Kind::Text),
            req(
                "context",
                Kind::OneOf(&["price_check", "basket", "pickup", "inventory"]),
            ),
            opt("gtin", Kind::Gtin14),
            opt("raw_masked", Kind::Text),
            opt("expiry", Kind::Date),
            opt("best_before", Kind::Date),
            opt("production_date", Kind::Date),
        ],
    },
    EventType {
        name: "store.transaction.completed",
        stage: Some(Stage::Decision),
        subject_field: "transaction_id",
        producer: Producer::Client,
        fields: &[
            req("transaction_id", Kind::Text),
            req("register_id", Kind::Text),
            req("total_minor", ANY_INT),
            req("currency", Kind::Currency),
            req("item_count", COUNT),
            opt("customer_token", Kind::CustomerToken),
            opt("pickup_order_id", Kind::Text),
        ],
    },
    EventType {
        name: "store.receipt.printed",
        stage: Some(Stage::Decision),
        subject_field: "job_id",
        producer: Producer::Client,
        fields: &[
            req("printer_id", Kind::Text),
            req(
                "document",
                Kind::OneOf(&["receipt", "pickup_slip", "handover_confirmation", "test"]),
            ),
            req("job_id", Kind::Text),
            opt("order_id", Kind::Text),
            opt("transaction_id", Kind::Text),
        ],
    },
    EventType {
        name: "store.pickup.received",
        stage: Some(Stage::Decision),
        subject_field: "order_id",
        producer: Producer::Service,
        fields: ORDER_ANNOUNCED,
    },
    EventType {
        name: "store.pickup.picking_started",
        stage: Some(Stage::Service),
        subject_field: "order_id",
        producer: Producer::Service,
        fields: &[req("order_id", Kind::Text), req("staff_id", Kind::Text)],
    },
    EventType {
        name: "store.pickup.ready",
        stage: Some(Stage::Service),
        subject_field: "order_id",
        producer: Producer::Service,
        fields: &[
            req("order_id", Kind::Text),
            req("staff_id", Kind::Text),
            req("location", Kind::Text),
            req("missing_lines", Kind::StringArray),
        ],
    },
    EventType {
        name: "store.pickup.customer_arrived",
        stage: Some(Stage::Service),
        subject_field: "order_id",
        producer: Producer::Service,
        fields: &[
            req("order_id", Kind::Text),
            req(
                "verified_by",
                Kind::OneOf(&["pass", "code", "manual_lookup"]),
            ),
        ],
    },
    EventType {
        name: "store.pickup.handed_over",
        stage: Some(Stage::Service),
        subject_field: "order_id",
        producer: Producer::Service,
        fields: &[
            req("order_id", Kind::Text),
            req("staff_id", Kind::Text),
            req(
                "verified_by",
                Kind::OneOf(&["pass", "code", "id_check", "manual_override"]),
            ),
            req("lines", Kind::HandoverLines),
            req("partial", Kind::Bool),
            opt("wait_seconds", COUNT),
        ],
    },
    EventType {
        name: "store.pickup.refused",
        stage: Some(Stage::Service),
        subject_field: "order_id",
        producer: Producer::Service,
        fields: &[
            req("order_id", Kind::Text),
            req("staff_id", Kind::Text),
            req(
                "reason",
                Kind::OneOf(&["damaged", "wrong_item", "changed_mind", "other"]),
            ),
        ],
    },
    EventType {
        name: "store.pickup.no_show",
        stage: Some(Stage::Service),
        subject_field: "order_id",
        producer: Producer::Service,
        fields: &[
            req("order_id", Kind::Text),
            req("pickup_by", Kind::DateTime),
            req("reminders_sent", COUNT),
        ],
    },
    EventType {
        name: "store.pickup.cancelled",
        stage: Some(Stage::Service),
        subject_field: "order_id",
        producer: Producer::Service,
        fields: &[
            req("order_id", Kind::Text),
            req("by", Kind::OneOf(&["central", "store"])),
            req("reason", Kind::Text),
        ],
    },
    EventType {
        name: "store.pickup.conflict",
        stage: Some(Stage::Service),
        subject_field: "order_id",
        producer: Producer::Service,
        fields: &[
            req("order_id", Kind::Text),
            req("local_state", Kind::Text),
            req("central_state", Kind::OneOf(&["open", "cancelled"])),
            req("detail", Kind::Text),
        ],
    },
    EventType {
        name: "store.reservation.created",
        stage: Some(Stage::Decision),
        subject_field: "order_id",
        producer: Producer::Service,
        fields: ORDER_ANNOUNCED,
    },
    EventType {
        name: "store.feedback.submitted",
        stage: Some(Stage::Loyalty),
        subject_field: "order_id",
        producer: Producer::Client,
        fields: &[
            req("score", Kind::Int { min: 0, max: 10 }),
            req(
                "context",
                Kind::OneOf(&["pickup", "checkout", "service_desk"]),
            ),
            opt("comment", Kind::Text),
            opt("order_id", Kind::Text),
            opt("customer_token", Kind::CustomerToken),
        ],
    },
    EventType {
        name: "store.service.visit",
        stage: Some(Stage::Service),
        subject_field: "customer_token",
        producer: Producer::Client,
        fields: &[
            req(
                "reason",
                Kind::OneOf(&["return", "repair", "advice", "complaint"]),
            ),
            opt("staff_id", Kind::Text),
            opt("customer_token", Kind::CustomerToken),
        ],
    },
    EventType {
        name: "store.device.status",
        stage: None,
        subject_field: "device_id",
        producer: Producer::Service,
        fields: &[
            req("device_id", Kind::Text),
            req(
                "kind",
                Kind::OneOf(&["scanner", "card_reader", "printer", "tablet"]),
            ),
            req(
                "state",
                Kind::OneOf(&[
                    "online",
                    "offline",
                    "error",
                    "paper_low",
                    "paper_out",
                    "cover_open",
                ]),
            ),
            opt("detail", Kind::Text),
        ],
    },
];

/// Looks a type up in the catalog.
pub fn lookup(name: &str) -> Option<&'static EventType> {
    CATALOG.iter().find(|t| t.name == name)
}

/// Why an event's data does not follow the contract. The message names the
/// field and what is allowed, so a till developer can fix the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    #[error("`data` must be a JSON object")]
    NotAnObject,
    #[error("data field `{field}` is required for {event_type}")]
    Missing {
        event_type: &'static str,
        field: &'static str,
    },
    #[error("data field `{field}` {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
}

impl EventType {
    /// Checks `data` against this type's fields. Unknown extra fields are
    /// allowed (events.md: they must be kept when forwarded).
    pub fn validate(&self, data: &Value) -> Result<(), DataError> {
        let Value::Object(map) = data else {
            return Err(DataError::NotAnObject);
        };
        for field in self.fields {
            match map.get(field.name) {
                None | Some(Value::Null) if field.required => {
                    return Err(DataError::Missing {
                        event_type: self.name,
                        field: field.name,
                    })
                }
                None | Some(Value::Null) => {}
                Some(value) => check_kind(field, value)?,
            }
        }
        Ok(())
    }

    /// The subject this event must carry: the value of its subject field,
    /// if present (as a string; numbers are rendered in decimal).
    pub fn subject_of(&self, data: &Map<String, Value>) -> Option<String> {
        match data.get(self.subject_field)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

fn invalid(field: &Field, problem: impl Into<String>) -> DataError {
    DataError::Invalid {
        field: field.name,
        problem: problem.into(),
    }
}

fn check_kind(field: &Field, value: &Value) -> Result<(), DataError> {
    let as_str = || {
        value
            .as_str()
            .ok_or_else(|| invalid(field, "must be a string"))
    };
    match field.kind {
        Kind::Text => {
            if as_str()?.is_empty() {
                return Err(invalid(field, "must not be empty"));
            }
        }
        Kind::OneOf(allowed) => {
            let s = as_str()?;
            if !allowed.contains(&s) {
                return Err(invalid(
                    field,
                    format!("must be one of {}", allowed.join(", ")),
                ));
            }
        }
        Kind::Int { min, max } => {
            let n = value
                .as_i64()
                .ok_or_else(|| invalid(field, "must be an integer"))?;
            if n < min || n > max {
                return Err(invalid(
                    field,
                    format!("must be between {min} and {max}, found {n}"),
                ));
            }
        }
        Kind::Bool => {
            if !value.is_boolean() {
                return Err(invalid(field, "must be true or false"));
            }
        }
        Kind::CustomerToken => {
            if !is_customer_token(as_str()?) {
                return Err(invalid(
                    field,
                    "must be a customer token (43 characters of base64url, the keyed hash of the \
                     card number); clear card numbers are never accepted",
                ));
            }
        }
        Kind::Masked => {
            if !is_masked(as_str()?) {
                return Err(invalid(
                    field,
                    "must be masked as `****` followed by at most the last 4 characters",
                ));
            }
        }
        Kind::Gtin14 => {
            let s = as_str()?;
            if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(field, "must be 14 digits"));
            }
        }
        Kind::Date => {
            let s = as_str()?;
            let format = time::macros::format_description!("[year]-[month]-[day]");
            if time::Date::parse(s, &format).is_err() {
                return Err(invalid(field, "must be a date as YYYY-MM-DD"));
            }
        }
        Kind::DateTime => {
            if crate::events::parse_time(as_str()?).is_err() {
                return Err(invalid(
                    field,
                    "must be an RFC 3339 date-time such as 2026-11-26T10:00:00Z",
                ));
            }
        }
        Kind::Symbology => {
            let s = as_str()?;
            let b = s.as_bytes();
            if b.len() != 3 || b[0] != b']' || !b[1].is_ascii_alphabetic() {
                return Err(invalid(
                    field,
                    "must be an AIM symbology identifier such as ]E0",
                ));
            }
        }
        Kind::Currency => {
            let s = as_str()?;
            if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(invalid(field, "must be an ISO 4217 code such as EUR"));
            }
        }
        Kind::StringArray => {
            let items = value
                .as_array()
                .ok_or_else(|| invalid(field, "must be an array of strings"))?;
            if !items
                .iter()
                .all(|v| v.as_str().is_some_and(|s| !s.is_empty()))
            {
                return Err(invalid(field, "must be an array of non-empty strings"));
            }
        }
        Kind::HandoverLines => {
            let items = value
                .as_array()
                .ok_or_else(|| invalid(field, "must be an array of lines"))?;
            for item in items {
                let ok = item
                    .get("line_id")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
                    && item
                        .get("quantity_handed")
                        .and_then(Value::as_i64)
                        .is_some_and(|q| q >= 0);
                if !ok {
                    return Err(invalid(
                        field,
                        "entries must be {\"line_id\": string, \"quantity_handed\": integer >= 0}",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// 43 characters of the base64url alphabet: HMAC-SHA256 without padding.
pub fn is_customer_token(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `****` plus at most 4 visible characters.
pub fn is_masked(s: &str) -> bool {
    s.strip_prefix("****")
        .is_some_and(|rest| rest.chars().count() <= 4 && !rest.contains('*'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(event_type: &str, data: Value, expect: Result<(), &str>) {
        let t = lookup(event_type).expect("type in catalog");
        let got = t.validate(&data).map_err(|e| e.to_string());
        match (got, expect) {
            (Ok(()), Ok(())) => {}
            (Err(got), Err(want)) => assert!(got.contains(want), "{got:?} lacks {want:?}"),
            (got, want) => panic!("{event_type} {data}: got {got:?}, want {want:?}"),
        }
    }

    const TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn every_type_of_the_contract_is_in_the_catalog_once() {
        let names: Vec<_> = CATALOG.iter().map(|t| t.name).collect();
        let mut dedup = names.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(names.len(), dedup.len());
        assert_eq!(names.len(), 17);
        assert!(lookup("store.device.status").is_some_and(|t| t.stage.is_none()));
    }

    #[test]
    fn loyalty_identified_rules() {
        let ok = json!({"customer_token": TOKEN, "method": "barcode", "device_id": "d1", "number_masked": "****1234"});
        check("store.loyalty.identified", ok, Ok(()));
        check(
            "store.loyalty.identified",
            json!({"customer_token": "4111111111111111", "method": "barcode", "device_id": "d1"}),
            Err("customer token"),
        );
        check(
            "store.loyalty.identified",
            json!({"customer_token": TOKEN, "method": "telepathy", "device_id": "d1"}),
            Err("must be one of barcode"),
        );
        check(
            "store.loyalty.identified",
            json!({"customer_token": TOKEN, "method": "nfc", "device_id": "d1", "number_masked": "4111111111111111"}),
            Err("masked"),
        );
        check(
            "store.loyalty.identified",
            json!({"method": "nfc", "device_id": "d1"}),
            Err("`customer_token` is required"),
        );
    }

    #[test]
    fn field_kinds() {
        check(
            "store.feedback.submitted",
            json!({"score": 11, "context": "pickup"}),
            Err("between 0 and 10"),
        );
        check(
            "store.feedback.submitted",
            json!({"score": 9, "context": "pickup", "extra": {"kept": true}}),
            Ok(()),
        );
        check(
            "store.product.scanned",
            json!({"symbology": "]E0", "device_id": "s", "context": "basket", "gtin": "4006381333931"}),
            Err("14 digits"),
        );
        check(
            "store.product.scanned",
            json!({"symbology": "]E0", "device_id": "s", "context": "basket", "expiry": "2026-02-30"}),
            Err("YYYY-MM-DD"),
        );
        check(
            "store.transaction.completed",
            json!({"transaction_id": "t", "register_id": "r", "total_minor": 1299, "currency": "eur", "item_count": 2}),
            Err("ISO 4217"),
        );
        check(
            "store.pickup.handed_over",
            json!({"order_id": "o", "staff_id": "s", "verified_by": "pass", "partial": false,
                   "lines": [{"line_id": "1", "quantity_handed": 2}]}),
            Ok(()),
        );
        check("store.service.visit", json!("x"), Err("JSON object"));
    }
}
