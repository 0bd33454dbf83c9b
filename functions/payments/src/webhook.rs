//! `POST /api/payments/webhook`: what Stripe tells us about PaymentIntents.
//!
//! The signature is checked over the raw body before anything else; each Stripe event is handled
//! once (`stripe-event#<id>`, written in the same transaction as its effects). A PaymentIntent that
//! succeeds for an order already cancelled, lapsed, paid, or after its `expiresAt` is refunded
//! ([`crate::settle`]), and the order stays as it was.

use axum::Router;
use axum::body::Bytes;
use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use contract::PaymentId;
use contract::events::PaymentFailedData;
use serde::Deserialize;
use shared::error::ApiError;
use shared::events::{CloudEvent, types};
use shared::validation::existing_id;

use crate::PaymentState;
use crate::settle::settle;
use crate::store::{CopyStatus, stripe_event_key};
use crate::stripe::{PaymentIntent, WebhookSecret, signature_is_valid};

pub const BAD_SIGNATURE: &str = "Invalid Stripe signature";

/// `stripe-webhook`'s state: the context's, and the secret that signs Stripe's events.
#[derive(Clone)]
struct WebhookState {
    payments: PaymentState,
    secret: Arc<str>,
}

impl FromRef<WebhookState> for PaymentState {
    fn from_ref(state: &WebhookState) -> Self {
        state.payments.clone()
    }
}

pub fn router(payments: PaymentState, secret: WebhookSecret) -> Router {
    Router::new()
        .route("/api/payments/webhook", post(webhook))
        .with_state(WebhookState {
            payments,
            secret: secret.0.into(),
        })
}

#[derive(Debug, Deserialize)]
struct StripeEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    /// When Stripe made the event (unix seconds): for `payment_intent.succeeded`, when it was paid.
    #[serde(default)]
    created: Option<i64>,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: serde_json::Value,
}

async fn webhook(
    State(WebhookState {
        payments: state,
        secret,
    }): State<WebhookState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !signature_is_valid(&secret, signature, &body, shared::time::unix_now()) {
        return Err(ApiError::rule(BAD_SIGNATURE));
    }
    let event: StripeEvent = serde_json::from_slice(&body).map_err(|_| ApiError::MalformedJson)?;
    if state.payments.exists(stripe_event_key(&event.id)).await? {
        return Ok(StatusCode::OK);
    }
    const SUCCEEDED: &str = "payment_intent.succeeded";
    if ![SUCCEEDED, "payment_intent.payment_failed"].contains(&event.kind.as_str()) {
        return Ok(StatusCode::OK);
    }
    let (intent, order_id) = match intent_of(&event) {
        Ok(found) => found,
        // Signed by Stripe but about nothing of ours (another integration's PaymentIntent): logged,
        // and acknowledged so that Stripe stops sending it.
        Err(reason) => {
            tracing::warn!(event = %event.id, %reason, "webhook event ignored");
            return remember(&state, &event).await;
        }
    };
    if event.kind == SUCCEEDED {
        succeeded(&state, &event, intent, order_id).await
    } else {
        failed(&state, &event, intent, order_id).await
    }
}

/// The PaymentIntent an event is about, and the id of the order it pays.
fn intent_of(event: &StripeEvent) -> Result<(PaymentIntent, String), &'static str> {
    let intent: PaymentIntent =
        serde_json::from_value(event.data.object.clone()).map_err(|_| "not a PaymentIntent")?;
    let order_id = intent
        .metadata
        .get("orderId")
        .and_then(|id| existing_id(id).ok())
        .ok_or("a PaymentIntent without an order id")?;
    Ok((intent, order_id))
}

/// Marks the Stripe event handled, alone.
async fn remember(state: &PaymentState, event: &StripeEvent) -> Result<StatusCode, ApiError> {
    let _ = state
        .payments
        .transact(vec![
            state.payments.first(stripe_event_key(&event.id), &[])?,
        ])
        .await?;
    Ok(StatusCode::OK)
}

/// Pays the order, or refunds the payment if the order can no longer take it ([`settle`]).
async fn succeeded(
    state: &PaymentState,
    event: &StripeEvent,
    intent: PaymentIntent,
    order_id: String,
) -> Result<StatusCode, ApiError> {
    // Not copied yet: Stripe delivers again later.
    let order = state
        .payments
        .order(&order_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let now = shared::time::unix_now();
    // `charge` is still settling its own attempt (claimed before expiresAt, whatever Stripe's
    // clock says of the success): let it, and hear this again later.
    if order.status == CopyStatus::Created && order.attempt_until.is_some_and(|until| until >= now)
    {
        return Err(ApiError::Conflict(
            "A payment for this order is in progress".to_owned(),
        ));
    }
    let paid_at = event.created.unwrap_or(now);
    settle(state, &order, &intent, paid_at, "stripe-webhook").await?;
    remember(state, event).await
}

async fn failed(
    state: &PaymentState,
    event: &StripeEvent,
    intent: PaymentIntent,
    order_id: String,
) -> Result<StatusCode, ApiError> {
    let reason = intent
        .last_payment_error
        .as_ref()
        .and_then(|e| e.message.clone())
        .unwrap_or_else(|| "Payment failed".to_owned());
    let payment_id = uuid::Uuid::now_v7().to_string();
    let announced = CloudEvent::of(
        "stripe-webhook",
        types::PAYMENT_FAILED,
        &payment_id,
        &PaymentFailedData {
            id: PaymentId::from(payment_id.as_str()),
            order_id: order_id.as_str().into(),
            stripe_id: intent.id.clone(),
            reason,
        },
    )?;
    let items = vec![
        state.payments.first(stripe_event_key(&event.id), &[])?,
        state.outbox.record(&announced)?,
    ];
    if state.payments.transact(items).await?.is_ok() {
        state.outbox.publish(&[announced]).await;
    }
    Ok(StatusCode::OK)
}
