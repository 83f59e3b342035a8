//! `POST /api/v1/pickups/{order_id}/ask-feedback` (issue 13): after a
//! handover the counter tablet asks the customer for feedback, and the
//! kiosk of the same register shows the question (`event:
//! feedback_prompt` on the live stream, linked to the order). The answer
//! itself is an event the kiosk posts (`store.feedback.submitted`), one per
//! order (the writer refuses a second: 409 `feedback-exists`).
//!
//! Must never: prompt for an order that was not handed over or already has
//! its answer, or send a prompt anywhere but to the kiosk of one register.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

use super::pickups::{acting_staff, StaffBody};
use super::{auth::Caller, ApiError, AppState};
use crate::live::Topic;
use crate::pickup::order::{self, PickupError};
use crate::pickup::State as OrderState;
use crate::store::tokens::{self, Role};
use crate::store::{kpi_counts, StoreError};

/// The prompt sent to the kiosk, and the 202's body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedbackPrompt {
    /// A new id for this prompt (UUIDv7).
    pub prompt_id: String,
    pub order_id: String,
    /// Always `pickup`: the question is about this pickup.
    #[schema(value_type = String, example = "pickup")]
    pub context: &'static str,
    /// The register whose kiosk shows it: the asking tablet's, else
    /// `[pickup] counter_register`.
    pub register: String,
}

/// What the reads before a prompt found.
struct Found {
    order: Option<order::Order>,
    answered: bool,
    kiosk: bool,
}

/// Ask the customer of a handed-over order for feedback on the kiosk of
/// this register (staff; on a paired tablet with a staff member logged in).
#[utoipa::path(post, path = "/api/v1/pickups/{order_id}/ask-feedback", params(("order_id" = String, Path)),
    request_body(content = StaffBody, description = "Optional: `{}` or no body from a paired tablet with staff logged in; `{\"staff_id\"}` from other callers"),
    responses(
    (status = 202, description = "The prompt was sent to the register's kiosk", body = FeedbackPrompt),
    (status = 403, description = "Not staff or admin; a paired tablet without a staff log-in (`reason: staff_login_required`)", body = super::error::Problem),
    (status = 404, description = "Unknown order", body = super::error::Problem),
    (status = 409, description = "Not handed over (`current_state`, `allowed`, `revision`); the order has its answer already (`feedback-exists`, `order_id`); no kiosk serves the register (`no-kiosk`, `register`)", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn ask_feedback(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "ask customers for feedback")?;
    let given: StaffBody = if body.iter().all(u8::is_ascii_whitespace) {
        StaffBody { staff_id: None }
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::unprocessable(format!(
                "expected {{\"staff_id\"}} (or {{}} from a tablet with staff logged in): {e}"
            ))
        })?
    };
    let staff_id = acting_staff(&state, &caller, given.staff_id)?;
    let register = caller
        .0
        .register
        .clone()
        .unwrap_or_else(|| state.pickups.settings.counter_register.clone());
    let found = {
        let (id, register) = (order_id.clone(), register.clone());
        state
            .readers
            .run(move |c| {
                Ok(Found {
                    order: order::get(c, &id)?,
                    answered: kpi_counts::feedback_exists(c, &id)?,
                    kiosk: tokens::any_active_at(c, Role::Kiosk, &register)?,
                })
            })
            .await?
    };
    let Some(order) = found.order else {
        return Err(PickupError::NotFound(order_id).into());
    };
    if !matches!(
        order.state,
        OrderState::HandedOver | OrderState::PartiallyHandedOver
    ) {
        let mut e = ApiError::new(
            StatusCode::CONFLICT,
            "not-handed-over",
            format!(
                "order `{order_id}` is {}: feedback is asked after a handover (handed_over or partially_handed_over)",
                order.state.as_str()
            ),
        );
        if let serde_json::Value::Object(extra) = json!({
            "current_state": order.state.as_str(),
            "allowed": crate::pickup::allowed(order.state),
            "revision": order.revision,
        }) {
            e.extra = Some(extra);
        }
        return Err(e);
    }
    if found.answered {
        return Err(StoreError::FeedbackExists { order_id }.into());
    }
    if !found.kiosk {
        let mut e = ApiError::new(
            StatusCode::CONFLICT,
            "no-kiosk",
            format!(
                "no feedback kiosk serves register `{register}`: pair one with `store-edge tablet pair --role kiosk --register {register}`"
            ),
        );
        let mut extra = serde_json::Map::new();
        extra.insert("register".into(), register.into());
        e.extra = Some(extra);
        return Err(e);
    }
    let prompt = FeedbackPrompt {
        prompt_id: uuid::Uuid::now_v7().to_string(),
        order_id,
        context: "pickup",
        register,
    };
    let shown = serde_json::to_value(&prompt)
        .map_err(|e| ApiError::internal(format!("cannot encode the prompt: {e}")))?;
    state
        .touchpoints
        .live
        .publish(Some(prompt.register.clone()), Topic::FeedbackPrompt, &shown);
    tracing::info!(order_id = %prompt.order_id, register = %prompt.register, staff_id = %staff_id, "feedback asked on the register's kiosk");
    Ok((StatusCode::ACCEPTED, Json(shown)).into_response())
}
