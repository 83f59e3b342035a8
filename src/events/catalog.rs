//! The event catalog of `shared/contracts/events.md` as one explicit table:
//! type → journey stage, subject field, data fields, and who may produce it.
//!
//! This table is the only place that knows the contract's field rules; the
//! local API, the fake central and the producers inside the service all
//! validate through it. It must never accept a clear card number where a
//! `customer_token` belongs, and [`EventType::screen_card_numbers`] keeps clear card
//! numbers out of everything else a client posts.

use serde_json::{Map, Value};

use crate::scan::{gtin, pan};

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
    /// An identifier (a transaction, order or print job, a GS1 batch or
    /// serial): any non-empty string, as events.md gives ids no shape; so it is
    /// screened for card numbers like text.
    Id,
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
    /// A scan shown masked: at most 4 digits in all, wherever they are
    /// (`************0511`), so no separator can hide a number in it.
    RawMasked,
    /// 14 digits, the last the GS1 check digit of the others.
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
    req("order_id", Kind::Id),
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
            opt("transaction_id", Kind::Id),
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
            opt("raw_masked", Kind::RawMasked),
            opt("batch", Kind::Id),
            opt("serial", Kind::Id),
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
            req("transaction_id", Kind::Id),
            req("register_id", Kind::Text),
            req("total_minor", ANY_INT),
            req("currency", Kind::Currency),
            req("item_count", COUNT),
            opt("customer_token", Kind::CustomerToken),
            opt("pickup_order_id", Kind::Id),
        ],
    },
    EventType {
        name: "store.receipt.printed",
        stage: Some(Stage::Decision),
        subject_field: "job_id",
        // One per physical print, as the print queue saw it: a till that
        // posted its own could count a print that never happened.
        producer: Producer::Service,
        fields: &[
            req("printer_id", Kind::Text),
            req(
                "document",
                Kind::OneOf(&["receipt", "pickup_slip", "handover_confirmation", "test"]),
            ),
            req("job_id", Kind::Id),
            opt("order_id", Kind::Id),
            opt("transaction_id", Kind::Id),
            opt("reprint", Kind::Bool),
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
        fields: &[req("order_id", Kind::Id), req("staff_id", Kind::Text)],
    },
    EventType {
        name: "store.pickup.ready",
        stage: Some(Stage::Service),
        subject_field: "order_id",
        producer: Producer::Service,
        fields: &[
            req("order_id", Kind::Id),
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
            req("order_id", Kind::Id),
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
            req("order_id", Kind::Id),
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
            req("order_id", Kind::Id),
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
            req("order_id", Kind::Id),
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
            req("order_id", Kind::Id),
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
            req("order_id", Kind::Id),
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
            opt("order_id", Kind::Id),
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
        name: "store.edge.restored",
        stage: None,
        // No subject (events.md).
        subject_field: "",
        producer: Producer::Service,
        fields: &[
            req("backup_taken_at", Kind::DateTime),
            req("last_sequence_in_backup", COUNT),
            req("first_sequence_after", COUNT),
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
    /// A clear payment card number where none may be (the value is never
    /// repeated; `field` is its path, e.g. `data.comment`).
    #[error(
        "`{field}` holds what looks like a payment card number; card numbers are never \
         recorded: remove it (a customer is named by `customer_token`)"
    )]
    CardNumber { field: String },
}

/// One step of the path to a value inside event data.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn render_path(root: &str, steps: &[Step<'_>]) -> String {
    let mut path = root.to_owned();
    for step in steps {
        match step {
            Step::Key(k) => {
                path.push('.');
                path.push_str(k);
            }
            Step::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    path
}

/// Refuses a clear payment card number (see [`pan`]) anywhere in `value`: in
/// every string, every number and every object key, at any depth, except the
/// top-level fields for which `exempt(name, value)` says so. `root` names
/// `value` in the error (`data`). The error names the field, never the number.
fn screen(
    root: &str,
    value: &Value,
    exempt: &dyn Fn(&str, &Value) -> bool,
) -> Result<(), DataError> {
    fn walk<'a>(
        root: &str,
        value: &'a Value,
        exempt: &dyn Fn(&str, &Value) -> bool,
        steps: &mut Vec<Step<'a>>,
    ) -> Result<(), DataError> {
        let found = match value {
            Value::String(s) => pan::contains_card_number(s),
            Value::Number(n) => pan::contains_card_number(&n.to_string()),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    steps.push(Step::Index(i));
                    walk(root, item, exempt, steps)?;
                    steps.pop();
                }
                false
            }
            Value::Object(map) => {
                for (key, item) in map {
                    if pan::contains_card_number(key) {
                        let parent = render_path(root, steps);
                        return Err(DataError::CardNumber {
                            field: format!("{parent}.<a field name>"),
                        });
                    }
                    // Only at the top: a name means something only where the
                    // catalog declares it.
                    if steps.is_empty() && exempt(key, item) {
                        continue;
                    }
                    steps.push(Step::Key(key));
                    walk(root, item, exempt, steps)?;
                    steps.pop();
                }
                false
            }
            Value::Null | Value::Bool(_) => false,
        };
        if found {
            return Err(DataError::CardNumber {
                field: render_path(root, steps),
            });
        }
        Ok(())
    }
    walk(root, value, exempt, &mut Vec::new())
}

/// Refuses a clear payment card number anywhere in `value` as
/// [`EventType::screen_card_numbers`] does (strings, numbers, keys, any
/// depth), for free text that is not an event's data (a print job's
/// document); the error names the field under `root`. Top-level fields
/// named in `skip` are not screened (a receipt's `fiscal` block).
pub fn screen_free_text(root: &str, value: &Value, skip: &[&str]) -> Result<(), DataError> {
    screen(root, value, &|name, _| skip.contains(&name))
}

impl Kind {
    /// True when `value` has this kind's shape and that shape is digits by
    /// nature, so the screening may skip it (issue 10: "fields the catalog
    /// types as a GTIN or as an id"): a GTIN-14 with its GS1 check digit, or
    /// a well-formed id ([`is_id`]: a till's transaction number may well be
    /// 16 Luhn-valid digits, and refusing one in ten of them would lose
    /// sales). Only for the top-level fields the event's type declares (see
    /// [`EventType::screen_card_numbers`]); never text, never nested.
    pub fn exempt_from_screening(self, value: &Value) -> bool {
        match self {
            Kind::Gtin14 => value.as_str().is_some_and(gtin::is_gtin14),
            Kind::Id => value.as_str().is_some_and(is_id),
            _ => false,
        }
    }
}

impl EventType {
    /// The field `name` as this type declares it, if it does.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Refuses a clear payment card number (see [`pan`]) anywhere in a
    /// client's `data`: in every string, every number and every object key,
    /// at any depth, in known and unknown fields alike. The one exception is a
    /// top-level field that this type declares as a GTIN or an id (see
    /// [`Kind::exempt_from_screening`]: a valid GTIN-14, a well-formed id) and
    /// whose value has that shape; the same name anywhere else, or a value of
    /// another shape, is screened. The error names the field (`data.comment`,
    /// `data.items[1].sku`), never the number.
    pub fn screen_card_numbers(&self, data: &Value) -> Result<(), DataError> {
        screen("data", data, &|name, value| {
            self.field(name)
                .is_some_and(|f| f.kind.exempt_from_screening(value))
        })
    }

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

/// Longest id accepted (order, transaction, job ids, serials, batches).
pub const MAX_ID_LEN: usize = 128;

/// An id's shape: 1–[`MAX_ID_LEN`] characters, no whitespace, no control
/// characters. Ids are made by machines (a till, central, a printer), never
/// typed as prose; a card number typed with spaces is not an id.
pub fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= MAX_ID_LEN
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
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
        Kind::Id => {
            if !is_id(as_str()?) {
                return Err(invalid(
                    field,
                    format!("must be an id: 1–{MAX_ID_LEN} characters without spaces or control characters"),
                ));
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
        Kind::RawMasked => {
            let s = as_str()?;
            if s.is_empty() || pan::digit_count(s) > 4 {
                return Err(invalid(
                    field,
                    "must be masked: at most 4 clear digits in all, e.g. ************0511",
                ));
            }
        }
        Kind::Gtin14 => {
            if !gtin::is_gtin14(as_str()?) {
                return Err(invalid(
                    field,
                    "must be 14 digits ending in the GS1 check digit, e.g. 04006381333931",
                ));
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
/// A run of 12 or more digits is refused: that is a clear number padded to the
/// shape (a real token has one with a chance of about 10^-8). `-` and `_` do
/// not end a run (`4111-1111_1111-1111…` is a run of 16).
pub fn is_customer_token(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && pan::longest_digit_run_between_letters(s) < 12
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
        assert_eq!(names.len(), 18);
        assert!(lookup("store.device.status").is_some_and(|t| t.stage.is_none()));
        assert!(lookup("store.edge.restored")
            .is_some_and(|t| t.stage.is_none() && t.producer == Producer::Service));
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

    /// A Luhn-valid GTIN-14 (Coca-Cola's GTIN-13 `5449000000996`): a card
    /// number to the detector, a product to the catalog.
    const LUHN_GTIN: &str = "05449000000996";

    #[test]
    fn only_a_valid_gtin_or_a_well_formed_id_is_exempt_from_screening() {
        assert!(pan::contains_card_number(LUHN_GTIN));
        for t in CATALOG {
            for f in t.fields {
                let gtin = matches!(f.kind, Kind::Gtin14);
                let id = matches!(f.kind, Kind::Id);
                let name = format!("{}.{}", t.name, f.name);
                assert_eq!(
                    f.kind.exempt_from_screening(&json!(LUHN_GTIN)),
                    gtin || id,
                    "{name}"
                );
                // A till's numeric transaction id: digits by nature (issue 10).
                assert_eq!(
                    f.kind.exempt_from_screening(&json!("4111111111111111")),
                    id,
                    "{name}"
                );
                for neither in [
                    json!("05449000000997 "),
                    json!("4111 1111 1111 1111"),
                    json!(5_449_000_000_996_u64),
                    json!(""),
                    json!("x".repeat(MAX_ID_LEN + 1)),
                ] {
                    assert!(!f.kind.exempt_from_screening(&neither), "{name}: {neither}");
                }
            }
        }
        // Ids are checked for that shape too: spaces make a 422, not an id.
        let t = lookup("store.transaction.completed").unwrap();
        let mut data = json!({"transaction_id": "T 1", "register_id": "till-1", "total_minor": 1,
                              "currency": "EUR", "item_count": 1});
        assert!(matches!(
            t.validate(&data),
            Err(DataError::Invalid {
                field: "transaction_id",
                ..
            })
        ));
        data["transaction_id"] = json!("4012888888881881");
        assert!(t.validate(&data).is_ok());
        assert_eq!(t.screen_card_numbers(&data).ok(), Some(()));
    }

    /// The path of the card number `data` holds for `event_type`, if any.
    fn screened(event_type: &str, data: Value) -> Result<(), String> {
        let t = lookup(event_type).expect("type in catalog");
        t.screen_card_numbers(&data).map_err(|e| match e {
            DataError::CardNumber { field } => field,
            other => panic!("{other}"),
        })
    }

    #[test]
    fn a_pan_in_free_text_or_an_unknown_field_is_refused_by_its_path() {
        let pan = "4111111111111111";
        for (data, path) in [
            (
                json!({"comment": format!("my card {pan} thanks")}),
                "data.comment",
            ),
            (json!({"card_number": pan}), "data.card_number"),
            (
                json!({"card_number": 4_111_111_111_111_111_u64}),
                "data.card_number",
            ),
            (
                json!({"card_number": 4_111_111_111_111_111.0_f64}),
                "data.card_number",
            ),
            (json!({"note": "5500 0000 0000 0004"}), "data.note"),
            (json!({"detail": "4111-1111-1111-1111"}), "data.detail"),
            (json!({"detail": "4111.1111.1111.1111"}), "data.detail"),
            (
                json!({"display_name": "x 4111 1111 1111 1111 12/27"}),
                "data.display_name",
            ),
            (
                json!({"extra": {"items": [{"name": "ok"}, {"name": pan}]}}),
                "data.extra.items[1].name",
            ),
            (json!({"extra": [[pan]]}), "data.extra[0][0]"),
            (json!({"extra": {pan: 1}}), "data.extra.<a field name>"),
        ] {
            assert_eq!(
                screened("store.feedback.submitted", data.clone()),
                Err(path.to_owned()),
                "{data}"
            );
        }
        for data in [
            json!({"comment": "great service, order W-1001, 3 items"}),
            json!({"score": 9, "total_minor": 129_900, "ok": true, "none": null}),
            json!({"long": "41111111111111111111111"}),
        ] {
            assert_eq!(
                screened("store.feedback.submitted", data.clone()),
                Ok(()),
                "{data}"
            );
        }
        // The message names the field and never the number.
        let e = screened("store.feedback.submitted", json!({"comment": pan})).unwrap_err();
        let text = DataError::CardNumber { field: e }.to_string();
        assert!(
            text.contains("data.comment") && !text.contains(pan),
            "{text}"
        );
    }

    /// Review finding 1: `NOT_SCREENED` exempted `gtin`, `sku`, `order_id`, …
    /// by name at any depth and in any event, and every id whatever it held.
    #[test]
    fn a_pan_in_a_nested_sku_an_unknown_objects_order_id_or_any_id_is_refused() {
        let pan = "4111111111111111";
        for (event_type, data, path) in [
            (
                "store.feedback.submitted",
                json!({"comment_box": {"sku": pan}}),
                "data.comment_box.sku",
            ),
            (
                "store.transaction.completed",
                json!({"basket": {"order_id": pan, "serial": "ok"}}),
                "data.basket.order_id",
            ),
            (
                "store.transaction.completed",
                json!({"items": [{"gtin": LUHN_GTIN, "sku": "SOFA-GRN"}]}),
                "data.items[0].gtin",
            ),
            (
                "store.transaction.completed",
                json!({"order": {"order_id": "W-1", "note": pan}}),
                "data.order.note",
            ),
            // Undeclared for the type: a `gtin` in a transaction is screened.
            (
                "store.transaction.completed",
                json!({"gtin": LUHN_GTIN}),
                "data.gtin",
            ),
            (
                "store.transaction.completed",
                json!({"sku": pan}),
                "data.sku",
            ),
            // A declared id exempt only with an id's shape: not with spaces.
            (
                "store.transaction.completed",
                json!({"transaction_id": "4111 1111 1111 1111"}),
                "data.transaction_id",
            ),
            (
                "store.product.scanned",
                json!({"serial": 4_111_111_111_111_111_u64}),
                "data.serial",
            ),
            // A declared GTIN field is exempt only with a GTIN's shape.
            ("store.product.scanned", json!({"gtin": pan}), "data.gtin"),
            (
                "store.product.scanned",
                json!({"gtin": 5_449_000_000_996_u64}),
                "data.gtin",
            ),
        ] {
            assert_eq!(
                screened(event_type, data.clone()),
                Err(path.to_owned()),
                "{event_type} {data}"
            );
        }
    }

    #[test]
    fn real_gtins_and_ids_still_pass() {
        let scanned = json!({"symbology": "]E0", "device_id": "till-1-scanner", "context": "basket",
                             "gtin": LUHN_GTIN, "serial": "SN-000123456", "batch": "L2026-11-A",
                             "expiry": "2027-03-31"});
        assert_eq!(screened("store.product.scanned", scanned.clone()), Ok(()));
        check("store.product.scanned", scanned, Ok(()));
        for (event_type, data) in [
            (
                "store.transaction.completed",
                json!({"transaction_id": "T-2026-11-26-000123", "register_id": "till-1", "total_minor": 1299,
                       "currency": "EUR", "item_count": 2, "pickup_order_id": "S-42-1001"}),
            ),
            (
                "store.transaction.completed",
                json!({"transaction_id": "0190f3c2-7b1a-7cc3-9d2e-3f1a2b3c4d5e", "register_id": "till-1",
                       "total_minor": 1299, "currency": "EUR", "item_count": 2,
                       "basket_id": "41111111-1111-1111-8111-111111111111"}),
            ),
            (
                "store.receipt.printed",
                json!({"printer_id": "p1", "document": "receipt", "job_id": "J-20261126-0042",
                       "order_id": "W-2026-000123", "transaction_id": "4711", "reprint": true}),
            ),
            (
                "store.feedback.submitted",
                json!({"score": 10, "context": "pickup", "order_id": "W-1001",
                       "comment": "Abgeholt am 26.11.2026 um 10.15 Uhr, Rückruf +49 30 1234 5678"}),
            ),
        ] {
            assert_eq!(screened(event_type, data.clone()), Ok(()), "{data}");
            check(event_type, data, Ok(()));
        }
    }

    /// Review finding 2: `raw_masked` counted only digit runs joined by one
    /// space or dash, and `customer_token` runs ended at `-` and `_`.
    #[test]
    fn raw_masked_and_customer_token_no_longer_hide_a_number_behind_separators() {
        let scanned = |raw: &str| json!({"symbology": "]E0", "device_id": "s", "context": "basket", "raw_masked": raw});
        for ok in [
            "************0511",
            "****-****-****-0511",
            "AB12*34",
            "0511",
            "****.****.****.0511",
        ] {
            check("store.product.scanned", scanned(ok), Ok(()));
        }
        for bad in [
            "4111111111111111",
            "41111",
            "4111 1111 **** 0511",
            "",
            "4111.1111.1111.1111",
            "4111/1111/1111/1111",
            "4111_1111_1111_1111",
            "4111  1111  1111  1111",
            "4111:1111:1111:1111",
            "4*1*1*1*1",
        ] {
            check("store.product.scanned", scanned(bad), Err("must be masked"));
        }
        let digits43 = "1".repeat(43);
        let padded = format!("{}{}", "4111111111111111", "A".repeat(27));
        let twelve = format!("{}{}", "A".repeat(31), "123456789012");
        let dashed = format!("{}{}", "4111-1111-1111-1111", "A".repeat(24));
        let underscored = format!("{}{}", "4111_1111_1111_1111", "A".repeat(24));
        let mixed = format!("{}{}", "A".repeat(28), "1234-5678_9-012");
        for bad in [&digits43, &padded, &twelve, &dashed, &underscored, &mixed] {
            assert_eq!(bad.len(), 43, "{bad}");
            check(
                "store.feedback.submitted",
                json!({"score": 9, "context": "pickup", "customer_token": bad}),
                Err("customer token"),
            );
        }
        let eleven = format!("{}{}", "A".repeat(32), "12345678901");
        let split = format!("{}{}", "A".repeat(31), "123456A78901");
        for ok in [&eleven, &split] {
            check(
                "store.feedback.submitted",
                json!({"score": 9, "context": "pickup", "customer_token": ok}),
                Ok(()),
            );
        }
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
            json!({"symbology": "]E0", "device_id": "s", "context": "basket", "gtin": "04006381333932"}),
            Err("GS1 check digit"),
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
