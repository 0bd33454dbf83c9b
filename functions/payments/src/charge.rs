//! `POST /api/payments`: pays an order by card through a Stripe PaymentIntent.
//!
//! One attempt per order at a time (a conditional write on the order copy), so two simultaneous
//! payments cannot both reach Stripe; and the Stripe idempotency key is derived from the order and
//! the payment method, so a retry of the same attempt never charges twice, while another card after a
//! decline is a new attempt.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use shared::error::ApiError;
use shared::events::{CloudEvent, types};
use shared::json::JsonBody;
use shared::session::SignedIn;
use shared::validation::{Validator, existing_id};

use crate::PaymentState;
use crate::store::{OrderCopy, payment_key, status};
use crate::stripe::PaymentIntent;

pub const ORDER_ID_REQUIRED: &str = "OrderId must be provided";
pub const METHOD_REQUIRED: &str = "A payment method is required";
pub const CANCELLED: &str = "Cannot pay for a cancelled order";
pub const EXPIRED: &str = "Order has expired";
pub const ALREADY_PAID: &str = "Order is already paid";
pub const IN_PROGRESS: &str = "A payment for this order is in progress";

/// How long an attempt holds the order; longer than a Stripe call may take.
const ATTEMPT_SECONDS: i64 = 60;

pub fn router(state: PaymentState) -> Router {
    Router::new()
        .route("/api/payments", post(charge))
        .with_state(state)
}

struct ChargeRequest {
    order_id: String,
    payment_method: String,
}

impl TryFrom<JsonBody> for ChargeRequest {
    type Error = ApiError;

    fn try_from(body: JsonBody) -> Result<Self, ApiError> {
        let mut v = Validator::new();
        let text = |field: &str| {
            body.str(field)
                .map(str::trim)
                .filter(|t| !t.is_empty() && t.len() <= 255)
                .map(str::to_owned)
        };
        let order_id = v.check("orderId", text("orderId").ok_or(ORDER_ID_REQUIRED));
        let payment_method = v.check(
            "paymentMethodId",
            text("paymentMethodId").ok_or(METHOD_REQUIRED),
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
    match order.status.as_str() {
        status::COMPLETE => Some(ApiError::rule(ALREADY_PAID)),
        status::CANCELLED => Some(ApiError::rule(CANCELLED)),
        _ if order.has_expired(now) => Some(ApiError::rule(EXPIRED)),
        _ => None,
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
    if order.user_id != user.id {
        return Err(ApiError::Forbidden);
    }
    let now = shared::time::unix_now();
    if let Some(refused) = refusal(&order, now) {
        return Err(refused);
    }
    if !state
        .payments
        .claim_attempt(&order.id, now, ATTEMPT_SECONDS)
        .await?
    {
        let current = state
            .payments
            .order(&order.id)
            .await?
            .ok_or(ApiError::NotFound)?;
        return Err(
            refusal(&current, now).unwrap_or_else(|| ApiError::Conflict(IN_PROGRESS.to_owned()))
        );
    }
    let key = format!("order-{}-{}", order.id, request.payment_method);
    let paid = state
        .stripe
        .pay(order.total, &request.payment_method, &order.id, &key)
        .await;
    let intent = match paid {
        Ok(intent) => intent,
        Err(err) => {
            state.payments.release_attempt(&order.id).await;
            return Err(err.into());
        }
    };
    match intent.status.as_str() {
        "succeeded" => {
            let payment_id = record_success(&state, &order, &intent, "charge").await?;
            Ok((
                StatusCode::CREATED,
                axum::Json(json!({"id": payment_id, "orderId": order.id, "stripeId": intent.id, "status": "succeeded"})),
            )
                .into_response())
        }
        "requires_action" => {
            let payment_id = uuid::Uuid::now_v7().to_string();
            let event = CloudEvent::new(
                "charge",
                types::PAYMENT_PENDING,
                &payment_id,
                &json!({"id": payment_id, "orderId": order.id, "stripeId": intent.id}),
            )?;
            // The webhook finishes the job; the order's hold still ends at expiresAt.
            state
                .payments
                .transact(vec![state.outbox.record(&event)?])
                .await?
                .map_err(|_| ApiError::internal("outbox put refused"))?;
            state.outbox.publish(&[event]).await;
            state.payments.release_attempt(&order.id).await;
            Ok((
                StatusCode::ACCEPTED,
                axum::Json(json!({"id": payment_id, "orderId": order.id, "stripeId": intent.id,
                                  "status": "requires_action", "clientSecret": intent.client_secret})),
            )
                .into_response())
        }
        other => {
            state.payments.release_attempt(&order.id).await;
            let message = intent
                .last_payment_error
                .and_then(|e| e.message)
                .unwrap_or_else(|| format!("Payment {other}"));
            Err(ApiError::PaymentRequired(message))
        }
    }
}

/// Records a succeeded PaymentIntent once, whichever path (this function or the webhook) sees it
/// first: the payment, the order copy marked paid, and `payment.created`, in one transaction.
/// Returns the payment's id (the first recorder's).
pub async fn record_success(
    state: &PaymentState,
    order: &OrderCopy,
    intent: &PaymentIntent,
    function: &str,
) -> Result<String, ApiError> {
    let payment_id = uuid::Uuid::now_v7().to_string();
    let event = CloudEvent::new(
        function,
        types::PAYMENT_CREATED,
        &payment_id,
        &json!({"id": payment_id, "orderId": order.id, "stripeId": intent.id,
                "amount": intent.amount, "currency": intent.currency}),
    )?;
    let items = vec![
        state.payments.first(
            payment_key(&intent.id),
            &[
                ("id", payment_id.clone()),
                ("orderId", order.id.clone()),
                ("status", "succeeded".to_owned()),
            ],
        )?,
        state.payments.mark_paid(&order.id)?,
        state.outbox.record(&event)?,
    ];
    match state.payments.transact(items).await? {
        Ok(()) => {
            state.outbox.publish(&[event]).await;
            Ok(payment_id)
        }
        // Recorded already, by the other path.
        Err(refused) if refused.failed(0) => {
            let recorded: Option<serde_json::Value> = shared::dynamo::get(
                state.payments.client(),
                state.payments.table(),
                payment_key(&intent.id),
            )
            .await?;
            Ok(recorded
                .and_then(|r| r["id"].as_str().map(str::to_owned))
                .unwrap_or(payment_id))
        }
        Err(_) => Err(ApiError::Conflict(ALREADY_PAID.to_owned())),
    }
}
