//! From device frames to touchpoints: decode each frame (`scan/`), record
//! the matching event (`store.loyalty.identified`, `store.product.scanned`,
//! `store.device.status`), and publish it on the live stream that till
//! tablets watch. Keeps the device registry for `GET /api/v1/devices`.
//!
//! Must never: store, log or publish a clear loyalty number, card track or
//! pickup code (only tokens and masked forms), or block a device on the
//! network to central.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::devices::{DeviceConfig, DeviceEvent, DeviceKind, DeviceState};
use crate::events::{made, NewEvent};
use crate::live::{Live, PassRoute, ScannedPass, Topic};
use crate::scan::{self, DecodeConfig, Decoded, LoyaltyProgram};
use crate::store::Writer;

/// What `GET /api/v1/devices` shows of one device.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    pub id: String,
    pub kind: &'static str,
    pub transport: &'static str,
    pub register: Option<String>,
    pub context: String,
    pub state: &'static str,
    pub last_seen: Option<String>,
    pub frames: u64,
    pub bad_frames: u64,
    pub last_error: Option<String>,
}

/// Shared between the touchpoint task and the API.
#[derive(Clone)]
pub struct Touchpoints {
    /// The live stream this publishes scans and device states on.
    pub live: Live,
    pub devices: Arc<Mutex<Vec<DeviceView>>>,
    pub loyalty: Arc<LoyaltySettings>,
    /// Where pickup passes scanned at the counter register go for
    /// verification (set by the pickup workflow at start-up). Passes read
    /// elsewhere, e.g. at a till, are only shown: they record nothing.
    pub passes: Option<PassRoute>,
}

/// `[loyalty]`: the chain-wide token key and the programs.
#[derive(Debug, Default)]
pub struct LoyaltySettings {
    pub key: Option<scan::TokenKey>,
    pub programs: Vec<LoyaltyProgram>,
}

fn state_str(s: DeviceState) -> &'static str {
    match s {
        DeviceState::Online => "online",
        DeviceState::Offline => "offline",
        DeviceState::Error => "error",
    }
}

fn now() -> String {
    crate::events::format_time(time::OffsetDateTime::now_utc())
}

impl Touchpoints {
    pub fn new(
        devices: &[DeviceConfig],
        loyalty: LoyaltySettings,
        live: Live,
        passes: Option<PassRoute>,
    ) -> Touchpoints {
        let views = devices
            .iter()
            .map(|d| DeviceView {
                id: d.id.clone(),
                kind: d.kind.as_str(),
                transport: d.transport.name(),
                register: d.register.clone(),
                context: d.context.clone(),
                state: "offline",
                last_seen: None,
                frames: 0,
                bad_frames: 0,
                last_error: None,
            })
            .collect();
        Touchpoints {
            live,
            devices: Arc::new(Mutex::new(views)),
            loyalty: Arc::new(loyalty),
            passes,
        }
    }

    fn publish(&self, register: Option<String>, topic: Topic, json: Value) {
        self.live.publish(register, topic, &json);
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut DeviceView)) {
        if let Ok(mut views) = self.devices.lock() {
            if let Some(v) = views.iter_mut().find(|v| v.id == id) {
                f(v);
            }
        }
    }
}

/// Runs until the device channel closes or `cancel` fires.
pub async fn run(
    tp: Touchpoints,
    devices: Vec<DeviceConfig>,
    writer: Writer,
    mut rx: mpsc::Receiver<DeviceEvent>,
    cancel: CancellationToken,
) {
    let by_id: HashMap<String, DeviceConfig> =
        devices.into_iter().map(|d| (d.id.clone(), d)).collect();
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => return,
            e = rx.recv() => e,
        };
        let Some(event) = event else { return };
        match event {
            DeviceEvent::Frame {
                device_id, bytes, ..
            } => {
                let Some(device) = by_id.get(&device_id) else {
                    continue;
                };
                tp.update(&device_id, |v| {
                    v.frames += 1;
                    v.last_seen = Some(now());
                });
                frame(&tp, device, &bytes, &writer).await;
            }
            DeviceEvent::BadFrame { device_id, reason } => {
                tp.update(&device_id, |v| {
                    v.bad_frames += 1;
                    v.last_error = Some(reason.clone());
                });
                let register = by_id.get(&device_id).and_then(|d| d.register.clone());
                tp.publish(
                    register,
                    Topic::Scan,
                    json!({"device_id": device_id, "kind": "invalid", "reason": reason}),
                );
            }
            DeviceEvent::State {
                device_id,
                state,
                detail,
            } => {
                let Some(device) = by_id.get(&device_id) else {
                    continue;
                };
                tp.update(&device_id, |v| {
                    v.state = state_str(state);
                    if state != DeviceState::Online {
                        v.last_error = detail.clone();
                    }
                });
                tracing::info!(device_id = %device_id, state = state_str(state), detail = detail.as_deref().unwrap_or(""), "device state");
                let kind = match device.kind {
                    DeviceKind::Scanner => "scanner",
                    DeviceKind::CardReader => "card_reader",
                };
                let status = made::DeviceStatus {
                    device_id: &device_id,
                    kind,
                    state: state_str(state),
                    detail: detail.as_deref(),
                };
                record(&writer, &status).await;
                let shown = serde_json::to_value(&status).unwrap_or_else(|_| json!({}));
                tp.publish(device.register.clone(), Topic::Device, shown);
            }
        }
    }
}

/// Records a service-produced event; a refusal (quota, disk) is logged —
/// the device cannot be told, and the stream still shows the scan.
async fn record<M: made::Made>(writer: &Writer, data: &M) -> Option<(String, String)> {
    let event = match NewEvent::made(data) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(event_type = M::TYPE, error = %e, "a device touchpoint does not match the event contract");
            return None;
        }
    };
    match writer.append(vec![event], None).await {
        Ok(crate::store::AppendOutcome::Created { acks, .. }) => {
            acks.into_iter().next().map(|a| (a.id, a.sequence))
        }
        Ok(_) => None,
        Err(e) => {
            tracing::error!(event_type = M::TYPE, error = %e, "cannot record a device touchpoint");
            None
        }
    }
}

/// A loyalty customer recognised by a card read at a device or by a number
/// a till posted (`POST /api/v1/loyalty/identify`): tokens and masked forms
/// only, never the clear number.
#[derive(Debug)]
pub struct Identification<'a> {
    pub customer_token: &'a str,
    /// barcode, magstripe, nfc, manual or app.
    pub method: &'a str,
    pub device_id: &'a str,
    pub number_masked: &'a str,
    pub program: Option<&'a str>,
    pub register_id: Option<&'a str>,
}

/// Why an identification was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Event(#[from] crate::events::EventError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the event was not acknowledged")]
    NotAcknowledged,
}

/// Records `store.loyalty.identified`: the one path of a scanned card and
/// of a till's identify request.
pub async fn record_identification(
    writer: &Writer,
    who: &Identification<'_>,
) -> Result<crate::store::Appended, RecordError> {
    let event = NewEvent::made(&made::LoyaltyIdentified {
        customer_token: who.customer_token,
        method: who.method,
        device_id: who.device_id,
        number_masked: Some(who.number_masked),
        program: who.program,
        register_id: who.register_id,
    })?;
    match writer.append(vec![event], None).await? {
        crate::store::AppendOutcome::Created { acks, .. } => {
            acks.into_iter().next().ok_or(RecordError::NotAcknowledged)
        }
        crate::store::AppendOutcome::Replayed { .. } => Err(RecordError::NotAcknowledged),
    }
}

/// Decodes one frame with this device's settings.
pub fn decode_frame(device: &DeviceConfig, loyalty: &LoyaltySettings, bytes: &[u8]) -> Decoded {
    let year = time::OffsetDateTime::now_utc().year();
    let mut cfg = match device.kind {
        DeviceKind::Scanner => DecodeConfig::scanner(year),
        DeviceKind::CardReader => DecodeConfig::card_reader(year),
    }
    .with_programs(loyalty.programs.clone());
    if let Some(k) = &loyalty.key {
        cfg = cfg.with_token_key(*k.as_bytes());
    }
    scan::decode(bytes, &cfg)
}

async fn frame(tp: &Touchpoints, device: &DeviceConfig, bytes: &[u8], writer: &Writer) {
    let decoded = decode_frame(device, &tp.loyalty, bytes);
    let mut shown = serde_json::to_value(&decoded)
        .unwrap_or_else(|_| json!({"kind": "invalid", "reason": "cannot show"}));
    shown["device_id"] = json!(device.id);
    if let Some(r) = &device.register {
        shown["register_id"] = json!(r);
    }
    match &decoded {
        Decoded::Loyalty(card) => match &card.customer_token {
            Some(token) => {
                let method = serde_json::to_value(card.method)
                    .ok()
                    .and_then(|m| m.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "barcode".into());
                let identified = Identification {
                    customer_token: token,
                    method: &method,
                    device_id: &device.id,
                    number_masked: &card.number_masked,
                    program: card.program.as_deref(),
                    register_id: device.register.as_deref(),
                };
                match record_identification(writer, &identified).await {
                    Ok(ack) => {
                        shown["event_id"] = json!(ack.id);
                        shown["sequence"] = json!(ack.sequence);
                    }
                    Err(e) => {
                        tracing::error!(device_id = %device.id, error = %e, "cannot record a loyalty identification")
                    }
                }
            }
            None => {
                tracing::warn!(device_id = %device.id, "loyalty card read but no [loyalty] key_file is configured; not recorded")
            }
        },
        Decoded::Product(product) => {
            let scanned = made::ProductScanned::of(&device.id, &device.context, product);
            if let Some((id, seq)) = record(writer, &scanned).await {
                shown["event_id"] = json!(id);
                shown["sequence"] = json!(seq);
            }
        }
        Decoded::PickupPass(pass) => {
            // Verified by the click-and-collect workflow, which tells the
            // tablets of this register (`event: pass`).
            let route = tp
                .passes
                .as_ref()
                .filter(|r| device.register.as_deref() == Some(r.counter_register.as_str()));
            if let Some(route) = route {
                let scanned = ScannedPass {
                    pass: pass.clone(),
                    device_id: device.id.clone(),
                    register: device.register.clone(),
                };
                if route.tx.try_send(scanned).is_err() {
                    tracing::warn!(device_id = %device.id, "pickup pass not verified: the workflow is busy or stopped");
                }
            }
        }
        Decoded::Unknown { reason, .. } | Decoded::Invalid { reason } => {
            tracing::debug!(device_id = %device.id, reason = %reason, "frame not understood");
        }
    }
    tp.publish(device.register.clone(), Topic::Scan, shown);
}
