//! The live stream that tills and tablets watch (`GET /api/v1/stream`):
//! what is published (scans, device states, order changes, pass checks,
//! feedback prompts for a register's kiosk, `kpis_changed` for the
//! managers' dashboards) and who sees what (the register and role filter). Touchpoints and the pickup
//! workflow both publish here and neither imports the other; pickup passes
//! read by the counter's scanners travel from the scanner side to the
//! workflow through here too.
//!
//! Must never: carry a clear number (publishers hand over tokens and
//! masked forms only), or block a publisher (a subscriber that falls
//! behind misses events and is told so with `lagged`).

use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

use crate::scan::pass::PickupPass;

/// Events kept for subscribers that are momentarily slow.
const BACKLOG: usize = 1024;

/// The kinds of live events, by their server-sent-event name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// A decoded scan or card read (also a refused frame).
    Scan,
    /// A device came online, went offline or failed.
    Device,
    /// A pickup order changed.
    Order,
    /// A pickup pass scanned at the counter was checked.
    Pass,
    /// Staff asked the customer at a register for feedback: the kiosk of
    /// that register (and nobody else) shows the question.
    FeedbackPrompt,
    /// Events that feed the KPIs were committed: dashboards reload
    /// (managers and admin only).
    KpisChanged,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Scan => "scan",
            Topic::Device => "device",
            Topic::Order => "order",
            Topic::Pass => "pass",
            Topic::FeedbackPrompt => "feedback_prompt",
            Topic::KpisChanged => "kpis_changed",
        }
    }
}

/// One message of the live stream.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    /// The register it concerns; None reaches every subscriber.
    pub register: Option<String>,
    pub topic: Topic,
    /// The event's data as JSON text.
    pub json: String,
}

/// The publishing end; cheap to clone.
#[derive(Clone)]
pub struct Live {
    events: broadcast::Sender<LiveEvent>,
}

impl Default for Live {
    fn default() -> Self {
        Live::new()
    }
}

impl Live {
    pub fn new() -> Live {
        Live {
            events: broadcast::channel(BACKLOG).0,
        }
    }

    /// Publishes `json` on `topic`; nobody watching is fine.
    pub fn publish(&self, register: Option<String>, topic: Topic, json: &Value) {
        let _ = self.events.send(LiveEvent {
            register,
            topic,
            json: json.to_string(),
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }
}

/// Who watches a stream, and so which events reach it.
#[derive(Debug, Clone)]
pub struct Audience {
    /// A register's tablet or till sees that register's scans and passes
    /// (a kiosk: its prompts); None (admin, a staff screen) sees all
    /// registers.
    pub register: Option<String>,
    /// Tills (`pos`) see scans and devices, not pickup orders and their
    /// customers.
    pub pickups_visible: bool,
    /// Which topics reach it at all.
    pub watching: Watching,
}

/// The topics a kind of watcher gets (issue 13: revenue and its changes
/// are not for every picker's tablet, and a customer's kiosk sees no staff
/// data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watching {
    /// Tills and staff tablets: scans, devices, orders, passes.
    Store,
    /// Admin: the store's topics and `kpis_changed`.
    StoreAndKpis,
    /// A manager's dashboard: only `kpis_changed`.
    Kpis,
    /// A feedback kiosk: only the `feedback_prompt`s of its own register.
    FeedbackPrompts,
}

impl Audience {
    pub fn wants(&self, e: &LiveEvent) -> bool {
        match (self.watching, e.topic) {
            (Watching::Kpis, topic) => topic == Topic::KpisChanged,
            (Watching::FeedbackPrompts, Topic::FeedbackPrompt) => {
                self.register.is_some() && self.register == e.register
            }
            (Watching::FeedbackPrompts, _) => false,
            (_, Topic::FeedbackPrompt) => false,
            (watching, Topic::KpisChanged) => watching == Watching::StoreAndKpis,
            _ => self.wants_store_event(e),
        }
    }

    /// The store's topics (scans, devices, orders, passes) by register and
    /// by whether pickups are visible.
    fn wants_store_event(&self, e: &LiveEvent) -> bool {
        let register_ok = match (&self.register, &e.register) {
            (Some(want), Some(got)) => want == got,
            // Device states and order changes reach every tablet.
            (Some(_), None) => matches!(e.topic, Topic::Device | Topic::Order),
            (None, _) => true,
        };
        register_ok && (self.pickups_visible || !matches!(e.topic, Topic::Order | Topic::Pass))
    }
}

/// A pickup pass read by a scanner, for verification by the workflow.
#[derive(Debug)]
pub struct ScannedPass {
    pub pass: PickupPass,
    pub device_id: String,
    pub register: Option<String>,
}

/// Where passes scanned on the counter register's scanners go: only those
/// are verified (a pass scanned at a till is only shown).
#[derive(Clone)]
pub struct PassRoute {
    pub counter_register: String,
    pub tx: mpsc::Sender<ScannedPass>,
}

impl PassRoute {
    /// A route for `counter_register` and the receiving end for the workflow.
    pub fn new(counter_register: &str) -> (PassRoute, mpsc::Receiver<ScannedPass>) {
        let (tx, rx) = mpsc::channel(64);
        (
            PassRoute {
                counter_register: counter_register.to_owned(),
                tx,
            },
            rx,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(register: Option<&str>, topic: Topic) -> LiveEvent {
        LiveEvent {
            register: register.map(str::to_owned),
            topic,
            json: "{}".into(),
        }
    }

    #[test]
    fn a_register_sees_its_own_scans_and_everyone_sees_devices_and_orders() {
        let till = Audience {
            register: Some("till-1".into()),
            pickups_visible: false,
            watching: Watching::Store,
        };
        let counter = Audience {
            register: Some("counter-1".into()),
            pickups_visible: true,
            watching: Watching::Store,
        };
        let office = Audience {
            register: None,
            pickups_visible: true,
            watching: Watching::Store,
        };
        assert!(till.wants(&event(Some("till-1"), Topic::Scan)));
        assert!(!till.wants(&event(Some("till-2"), Topic::Scan)));
        assert!(till.wants(&event(None, Topic::Device)));
        assert!(
            !till.wants(&event(None, Topic::Order)),
            "tills see no orders"
        );
        assert!(!till.wants(&event(Some("till-1"), Topic::Pass)));
        assert!(counter.wants(&event(None, Topic::Order)));
        assert!(counter.wants(&event(Some("counter-1"), Topic::Pass)));
        assert!(!counter.wants(&event(None, Topic::Scan)));
        assert!(office.wants(&event(Some("till-2"), Topic::Scan)));
        assert!(office.wants(&event(Some("counter-1"), Topic::Pass)));
    }

    /// Issue 13: a kiosk sees only its own register's prompts; a manager
    /// only `kpis_changed`; admin the store's topics and `kpis_changed`;
    /// tills and staff nothing new.
    #[test]
    fn kiosks_see_their_prompts_managers_their_kpis_and_nobody_else_either() {
        let kiosk = Audience {
            register: Some("counter-1".into()),
            pickups_visible: false,
            watching: Watching::FeedbackPrompts,
        };
        let lost_kiosk = Audience {
            register: None,
            ..kiosk.clone()
        };
        let manager = Audience {
            register: None,
            pickups_visible: false,
            watching: Watching::Kpis,
        };
        let admin = Audience {
            register: None,
            pickups_visible: true,
            watching: Watching::StoreAndKpis,
        };
        let staff = Audience {
            register: Some("counter-1".into()),
            pickups_visible: true,
            watching: Watching::Store,
        };
        let prompt = event(Some("counter-1"), Topic::FeedbackPrompt);
        let kpis = event(None, Topic::KpisChanged);
        assert!(kiosk.wants(&prompt));
        assert!(!kiosk.wants(&event(Some("till-2"), Topic::FeedbackPrompt)));
        assert!(!lost_kiosk.wants(&prompt), "no register, no prompts");
        for topic in [
            Topic::Scan,
            Topic::Device,
            Topic::Order,
            Topic::Pass,
            Topic::KpisChanged,
        ] {
            assert!(!kiosk.wants(&event(Some("counter-1"), topic)), "{topic:?}");
            assert!(!kiosk.wants(&event(None, topic)), "{topic:?}");
            assert!(!manager.wants(&event(None, topic)) || topic == Topic::KpisChanged);
        }
        assert!(manager.wants(&kpis));
        assert!(!manager.wants(&prompt));
        assert!(admin.wants(&kpis) && !admin.wants(&prompt));
        assert!(admin.wants(&event(None, Topic::Order)));
        assert!(!staff.wants(&kpis) && !staff.wants(&prompt));
        assert!(staff.wants(&event(None, Topic::Order)));
    }
}
