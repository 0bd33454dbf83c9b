//! `POST /api/payments`: pays an order by card through a Stripe PaymentIntent.
//!
//! One attempt per order at a time (a conditional write on the order copy), so two simultaneous
//! payments cannot both reach Stripe; and the Stripe idempotency key is derived from the order and
//! the payment method, so a retry of the same attempt never charges twice, while another card after a
//! decline is a new attempt.

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use contract::api::PaymentBody;
use contract::events::PaymentPendingData;
use contract::{PaymentId, PaymentStatus};
use shared::error::ApiError;
use shared::events::{CloudEvent, types};
use shared::json::JsonBody;
use shared::session::{Sessions, SignedIn};
use shared::validation::{Validator, existing_id};

use crate::PaymentState;
use crate::settle::{Settled, settle};
use crate::store::{CopyStatus, OrderCopy};

pub const ORDER_ID_REQUIRED: &str = "OrderId must be provided";
pub const METHOD_REQUIRED: &str = "A payment method is required";
pub const CANCELLED: &str = "Cannot pay for a cancelled order";
pub const EXPIRED: &str = "Order has expired";
pub const ALREADY_PAID: &str = "Order is already paid";
pub const IN_PROGRESS: &str = "A payment for this order is in progress";

/// How long an attempt holds the order; longer than a Stripe call may take.
const ATTEMPT_SECONDS: i64 = 60;

/// `charge`'s state: the context's, and the session settings that say who pays.
#[derive(Clone)]
struct ChargeState {
    payments: PaymentState,
    sessions: Sessions,
}

impl FromRef<ChargeState> for PaymentState {
    fn from_ref(state: &ChargeState) -> Self {
        state.payments.clone()
    }
}

impl FromRef<ChargeState> for Sessions {
    fn from_ref(state: &ChargeState) -> Self {
        state.sessions.clone()
    }
}

pub fn router(payments: PaymentState, sessions: Sessions) -> Router {
    Router::new()
        .route("/api/payments", post(charge))
        .with_state(ChargeState { payments, sessions })
}

struct ChargeRequest {
    order_id: String,
    payment_method: String,
}

/// Whether `id` looks like something Stripe accepts as a payment method: a PaymentMethod
/// (`pm_…`), or a Card (`card_…`, what Stripe.js's token flow gives), of Stripe's id alphabet.
/// Anything else is refused before Stripe is called, so a stray character can never reach a
/// header, a URL or Stripe's error paths.
pub fn is_payment_method_id(id: &str) -> bool {
    let body = id.strip_prefix("pm_").or_else(|| id.strip_prefix("card_"));
    body.is_some_and(|body| {
        (1..=200).contains(&body.len())
            && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

impl TryFrom<JsonBody> for ChargeRequest {
    type Error = ApiError;

    fn try_from(body: JsonBody) -> Result<Self, ApiError> {
        let mut v = Validator::new();
        let order_id = v.check(
            "orderId",
            body.str("orderId")
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .ok_or(ORDER_ID_REQUIRED),
        );
        let payment_method = v.check(
            "paymentMethodId",
            body.str("paymentMethodId")
                .map(str::trim)
                .filter(|t| is_payment_method_id(t))
                .map(str::to_owned)
                .ok_or(METHOD_REQUIRED),
        );
        v.finish(|| {
            Some(Self {
                order_id: order_id?,
                payment_method: payment_method?,
            })
        })
    }
}

/// Why an order cannot be paid now, if it cannot.
fn refusal(order: &OrderCopy, now: i64) -> Option<ApiError> {
    match order.status {
        CopyStatus::Complete => Some(ApiError::rule(ALREADY_PAID)),
        CopyStatus::Cancelled => Some(ApiError::rule(CANCELLED)),
        CopyStatus::Expired => Some(ApiError::rule(EXPIRED)),
        CopyStatus::Created if order.has_expired(now) => Some(ApiError::rule(EXPIRED)),
        CopyStatus::Created => None,
    }
}

async fn charge(
    State(state): State<PaymentState>,
    SignedIn(user): SignedIn,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let request = ChargeRequest::try_from(body)?;
    let order_id = existing_id(&request.order_id)?;
    let order = state
        .payments
        .order(&order_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if order.user_id.as_str() != user.id {
        return Err(ApiError::Forbidden);
    }
    let now = shared::time::unix_now();
    if let Some(refused) = refusal(&order, now) {
        return Err(refused);
    }
    if !state
        .payments
        .claim_attempt(order.id.as_str(), now, ATTEMPT_SECONDS)
        .await?
    {
        return Err(current_refusal(&state, order.id.as_str(), now).await);
    }
    let key = format!("order-{}-{}", order.id, request.payment_method);
    let paid = state
        .stripe
        .pay(
            order.total,
            &request.payment_method,
            order.id.as_str(),
            &key,
        )
        .await;
    let intent = match paid {
        Ok(intent) => intent,
        Err(err) => {
            state.payments.release_attempt(order.id.as_str()).await;
            return Err(err.into());
        }
    };
    match intent.status.as_str() {
        // Paid at `now`: the claim, made before expiresAt, is when the buyer paid.
        "succeeded" => match settle(&state, &order, &intent, now, "charge").await? {
            Settled::Paid(payment_id) => Ok((
                StatusCode::CREATED,
                axum::Json(PaymentBody {
                    id: PaymentId::from(payment_id.as_str()),
                    order_id: order.id.clone(),
                    stripe_id: intent.id.clone(),
                    status: PaymentStatus::Succeeded,
                    client_secret: None,
                }),
            )
                .into_response()),
            Settled::Refunded => {
                state.payments.release_attempt(order.id.as_str()).await;
                Err(current_refusal(&state, order.id.as_str(), now).await)
            }
        },
        "requires_action" => {
            let payment_id = uuid::Uuid::now_v7().to_string();
            let event = CloudEvent::of(
                "charge",
                types::PAYMENT_PENDING,
                &payment_id,
                &PaymentPendingData {
                    id: PaymentId::from(payment_id.as_str()),
                    order_id: order.id.clone(),
                    stripe_id: intent.id.clone(),
                },
            )?;
            // The webhook finishes the job; the order's hold still ends at expiresAt.
            state.announce(event).await?;
            // Remembered, so that the expiry asks Stripe whether it succeeded in time.
            state
                .payments
                .await_authentication(order.id.as_str(), &intent.id)
                .await?;
            Ok((
                StatusCode::ACCEPTED,
                axum::Json(PaymentBody {
                    id: PaymentId::from(payment_id.as_str()),
                    order_id: order.id.clone(),
                    stripe_id: intent.id.clone(),
                    status: PaymentStatus::RequiresAction,
                    client_secret: intent.client_secret.clone(),
                }),
            )
                .into_response())
        }
        other => {
            state.payments.release_attempt(order.id.as_str()).await;
            let message = intent
                .last_payment_error
                .and_then(|e| e.message)
                .unwrap_or_else(|| format!("Payment {other}"));
            Err(ApiError::PaymentRequired(message))
        }
    }
}

/// Why the order cannot be paid, as its copy says now (after a refused claim or a refund).
async fn current_refusal(state: &PaymentState, order_id: &str, now: i64) -> ApiError {
    match state.payments.order(order_id).await {
        Ok(Some(current)) => {
            refusal(&current, now).unwrap_or_else(|| ApiError::Conflict(IN_PROGRESS.to_owned()))
        }
        Ok(None) => ApiError::NotFound,
        Err(err) => err,
    }
}

#[cfg(test)]
mod tests {
    use super::is_payment_method_id;

    #[test]
    fn payment_methods_and_cards_are_payment_method_ids() {
        for id in [
            "pm_card_visa",
            "pm_1Q0PsIJvEtkwdCNYMSaVuRz6",
            "card_1Abc",
            "pm_card_chargeDeclined",
        ] {
            assert!(is_payment_method_id(id), "{id}");
        }
    }

    #[test]
    fn tokens_paths_and_odd_characters_are_not() {
        let long = format!("pm_{}", "a".repeat(201));
        for id in [
            "tok_visa",
            "é",
            "../v1/charges",
            "pm\ncard",
            "\u{0}",
            "pm_",
            "pm_a b",
            "pm_é",
            "",
            long.as_str(),
        ] {
            assert!(!is_payment_method_id(id), "{id:?}");
        }
    }
}
