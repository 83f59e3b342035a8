//! The domain model of a store event (a touchpoint) and its CloudEvents wire
//! form. Plain Rust types; serialization happens only at the edges (`api/`,
//! `sync/`). Never carries a clear loyalty number, card track or pickup code.

pub mod catalog;
pub mod made;

use serde::Serialize;
use serde_json::{value::RawValue, Map, Value};
use time::{format_description::well_known::Rfc3339, OffsetDateTime, UtcOffset};

pub use catalog::{lookup, DataError, EventType, Producer, Stage, CATALOG};

/// An event as a producer hands it to the store, before it has an id and a
/// sequence number. Validated against the catalog on construction.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: &'static EventType,
    pub subject: Option<String>,
    /// When it happened, if the producer said so (else the recording time).
    pub time: Option<OffsetDateTime>,
    pub data: Map<String, Value>,
    /// `data` encoded once as JSON: what is stored and sent.
    pub data_json: String,
}

/// Why an event cannot be recorded. Each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("unknown event type `{0}`; the types are listed in events.md (e.g. store.loyalty.identified)")]
    UnknownType(String),
    #[error("`{0}` is recorded by the service itself and cannot be posted")]
    ServiceOnly(&'static str),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("`subject` is `{given}` but {field} in data is `{expected}`; omit subject or make them equal")]
    SubjectMismatch {
        given: String,
        field: &'static str,
        expected: String,
    },
    #[error("`subject` given but data has no `{0}` to derive it from")]
    SubjectWithoutField(&'static str),
    #[error("`time` is not an RFC 3339 date-time: {0}")]
    BadTime(String),
    #[error("{0}: its data cannot be encoded: {1}")]
    BadData(&'static str, String),
    #[error("`time` {0} is not in the years 2000 to 9999 (in UTC); send when the event happened, e.g. 2026-11-26T10:00:00Z")]
    TimeOutOfRange(String),
}

impl NewEvent {
    /// Builds an event produced by the service itself from untyped data;
    /// private, so every service event goes through a typed constructor of
    /// `made.rs` ([`NewEvent::made`]). The subject is derived from the data.
    fn service(type_name: &str, data: Value) -> Result<Self, EventError> {
        let event_type =
            lookup(type_name).ok_or_else(|| EventError::UnknownType(type_name.into()))?;
        Self::build(event_type, data, None, None)
    }

    /// Builds an event the service records itself from its typed data
    /// (`made.rs`); the catalog checks it like any event.
    pub fn made<M: made::Made>(data: &M) -> Result<Self, EventError> {
        let value =
            serde_json::to_value(data).map_err(|e| EventError::BadData(M::TYPE, e.to_string()))?;
        Self::service(M::TYPE, value)
    }

    /// Builds an event posted by a client: service-only types are refused,
    /// and so is a clear card number anywhere in `data` (see
    /// [`EventType::screen_card_numbers`]; checked before the fields, so a
    /// card number is reported as such whatever field it is in).
    pub fn from_client(
        type_name: &str,
        data: Value,
        subject: Option<String>,
        time: Option<&str>,
    ) -> Result<Self, EventError> {
        let event_type =
            lookup(type_name).ok_or_else(|| EventError::UnknownType(type_name.into()))?;
        if event_type.producer == Producer::Service {
            return Err(EventError::ServiceOnly(event_type.name));
        }
        let time = time
            .map(|t| {
                let parsed = parse_time(t).map_err(|_| EventError::BadTime(t.to_owned()))?;
                if !in_event_years(parsed) {
                    return Err(EventError::TimeOutOfRange(t.to_owned()));
                }
                Ok(parsed)
            })
            .transpose()?;
        event_type.screen_card_numbers(&data)?;
        Self::build(event_type, data, subject, time)
    }

    fn build(
        event_type: &'static EventType,
        data: Value,
        subject: Option<String>,
        time: Option<OffsetDateTime>,
    ) -> Result<Self, EventError> {
        event_type.validate(&data)?;
        let Value::Object(data) = data else {
            return Err(DataError::NotAnObject.into());
        };
        let derived = event_type.subject_of(&data);
        let subject = match (subject, derived) {
            (Some(given), Some(expected)) if given != expected => {
                return Err(EventError::SubjectMismatch {
                    given,
                    field: event_type.subject_field,
                    expected,
                })
            }
            (Some(_), None) => {
                return Err(EventError::SubjectWithoutField(event_type.subject_field))
            }
            (_, derived) => derived,
        };
        // A Map of Values always serializes; the fallback is unreachable.
        let data_json = serde_json::to_string(&data).unwrap_or_else(|_| "{}".to_owned());
        Ok(NewEvent {
            event_type,
            subject,
            time,
            data,
            data_json,
        })
    }
}

/// An event as stored: the row of the `events` table.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub sequence: u64,
    pub id: String,
    pub event_type: String,
    pub subject: Option<String>,
    pub time: String,
    pub recorded_at: String,
    pub stage: Option<String>,
    pub clockjump: Option<i64>,
    /// The data object exactly as stored (JSON text).
    pub data: String,
}

/// CloudEvents 1.0 JSON form, as central and the local API expect it.
/// Borrowed so that sync can serialize a page of rows without copying.
#[derive(Debug, Clone, Serialize)]
pub struct CloudEvent<'a> {
    pub specversion: &'static str,
    pub id: &'a str,
    pub source: &'a str,
    #[serde(rename = "type")]
    pub event_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<&'a str>,
    pub time: &'a str,
    pub datacontenttype: &'static str,
    pub sequence: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journeystage: Option<&'a str>,
    pub recordedat: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clockjump: Option<i64>,
    pub data: &'a RawValue,
}

impl StoredEvent {
    /// The CloudEvents form. `source` is `urn:store-edge:<store_id>`.
    /// Fails only if the stored data is not JSON, which `store/` prevents.
    pub fn to_cloudevent<'a>(
        &'a self,
        source: &'a str,
    ) -> Result<CloudEvent<'a>, serde_json::Error> {
        let data: &RawValue = serde_json::from_str(&self.data)?;
        Ok(CloudEvent {
            specversion: "1.0",
            id: &self.id,
            source,
            event_type: &self.event_type,
            subject: self.subject.as_deref(),
            time: &self.time,
            datacontenttype: "application/json",
            sequence: self.sequence.to_string(),
            journeystage: self.stage.as_deref(),
            recordedat: &self.recorded_at,
            clockjump: self.clockjump,
            data,
        })
    }
}

/// `urn:store-edge:<store_id>`, the CloudEvents source of this store.
pub fn source_of(store_id: &str) -> String {
    format!("urn:store-edge:{store_id}")
}

/// RFC 3339 in UTC with milliseconds: `2026-11-26T10:00:00.123Z`.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&format)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Unix milliseconds of `t` (truncated, as [`format_time`] shows it).
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos().div_euclid(1_000_000)) as i64
}

/// Writes [`format_time`]'s form of unix milliseconds `ms` to `out` (the
/// event log stores times as milliseconds; this renders them without an
/// allocation per event). Years outside 0000–9999 take `format_time`'s way.
pub fn write_time_ms(ms: i64, out: &mut String) {
    use std::fmt::Write;
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        out.push_str(&format_time(t));
        return;
    }
    let (h, m, sec, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{sec:02}.{milli:03}Z"
    );
}

/// Parses an RFC 3339 date-time (any offset).
pub fn parse_time(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(s, &Rfc3339)
}

/// The UTC years an event's `time` may fall in: central refuses others (an
/// event stamped `0000-01-01T00:00:00+23:59`, year -1 in UTC, stayed
/// quarantined for good), and [`format_time`] has no form for years past 9999.
pub const EVENT_YEARS: std::ops::RangeInclusive<i32> = 2000..=9999;

/// True when `t`, taken to UTC, falls in [`EVENT_YEARS`].
pub fn in_event_years(t: OffsetDateTime) -> bool {
    t.checked_to_offset(UtcOffset::UTC)
        .is_some_and(|utc| EVENT_YEARS.contains(&utc.year()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The event log's millisecond times render exactly as `format_time`
    /// renders the moment they came from (leap days, ends of years, 1970,
    /// the last millisecond of 9999).
    #[test]
    fn millisecond_times_render_like_format_time() {
        let mut ms: i64 = 0;
        let mut step: i64 = 1;
        let mut checked = 0;
        while ms < 253_402_300_799_999 {
            let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
            let mut out = String::new();
            write_time_ms(ms, &mut out);
            assert_eq!(out, format_time(t), "at {ms} ms");
            assert_eq!(unix_ms(t), ms);
            ms += step;
            step = step * 3 / 2 + 7_777;
            checked += 1;
        }
        for s in [
            "2000-02-29T23:59:59.999Z",
            "2026-12-31T23:59:59.001Z",
            "9999-12-31T23:59:59.999Z",
            "2024-03-01T00:00:00.000Z",
        ] {
            let t = parse_time(s).unwrap();
            let mut out = String::new();
            write_time_ms(unix_ms(t), &mut out);
            assert_eq!(out, s);
        }
        assert!(checked > 50);
    }

    #[test]
    fn subject_is_derived_and_checked() {
        let e = NewEvent::from_client(
            "store.transaction.completed",
            json!({"transaction_id": "T1", "register_id": "r", "total_minor": 100, "currency": "EUR", "item_count": 1}),
            None,
            None,
        )
        .unwrap();
        assert_eq!(e.subject.as_deref(), Some("T1"));
        let err = NewEvent::from_client(
            "store.transaction.completed",
            json!({"transaction_id": "T1", "register_id": "r", "total_minor": 100, "currency": "EUR", "item_count": 1}),
            Some("T2".into()),
            None,
        )
        .unwrap_err();
        assert!(matches!(err, EventError::SubjectMismatch { .. }));
    }

    #[test]
    fn service_only_types_are_refused_from_clients() {
        let err = NewEvent::from_client("store.pickup.ready", json!({}), None, None).unwrap_err();
        assert!(matches!(err, EventError::ServiceOnly("store.pickup.ready")));
        assert!(matches!(
            NewEvent::from_client("store.nope", json!({}), None, None),
            Err(EventError::UnknownType(_))
        ));
    }

    #[test]
    fn an_event_time_outside_the_years_2000_to_9999_utc_is_refused() {
        let feedback = || json!({"score": 9, "context": "pickup"});
        let post =
            |t: &str| NewEvent::from_client("store.feedback.submitted", feedback(), None, Some(t));
        for bad in [
            "0000-01-01T00:00:00+23:59",
            "1999-12-31T23:59:59Z",
            "2000-01-01T00:59:59+01:00",
            "9999-12-31T23:59:59-00:01",
        ] {
            assert!(
                matches!(post(bad), Err(EventError::TimeOutOfRange(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            post("10000-01-01T00:00:00Z"),
            Err(EventError::BadTime(_) | EventError::TimeOutOfRange(_))
        ));
        for good in [
            "2000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "1999-12-31T23:00:00-01:00",
        ] {
            let e = post(good).unwrap_or_else(|e| panic!("{good}: {e}"));
            assert!(e.time.is_some_and(in_event_years));
        }
    }

    #[test]
    fn time_is_utc_millis() {
        let t = parse_time("2026-11-26T11:00:00.5+01:00").unwrap();
        assert_eq!(format_time(t), "2026-11-26T10:00:00.500Z");
    }
}
