//! `POST /api/payments/webhook`: what Stripe tells us about PaymentIntents.
//!
//! The signature is checked over the raw body before anything else; each Stripe event is handled
//! once (`stripe-event#<id>`, written in the same transaction as its effects). A PaymentIntent that
//! succeeds for an order already cancelled or past its `expiresAt` is refunded, and the order stays
//! cancelled.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;
use shared::error::ApiError;
use shared::events::{CloudEvent, types};

use crate::PaymentState;
use crate::charge::record_success;
use crate::store::{payment_key, status, stripe_event_key};
use crate::stripe::{PaymentIntent, signature_is_valid};

pub const BAD_SIGNATURE: &str = "Invalid Stripe signature";

pub fn router(state: PaymentState) -> Router {
    Router::new()
        .route("/api/payments/webhook", post(webhook))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct StripeEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: serde_json::Value,
}

async fn webhook(
    State(state): State<PaymentState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let secret = &state.stripe.settings().webhook_secret;
    if !signature_is_valid(secret, signature, &body, shared::time::unix_now()) {
        return Err(ApiError::rule(BAD_SIGNATURE));
    }
    let event: StripeEvent = serde_json::from_slice(&body).map_err(|_| ApiError::MalformedJson)?;
    if state.payments.exists(stripe_event_key(&event.id)).await? {
        return Ok(StatusCode::OK);
    }
    match event.kind.as_str() {
        "payment_intent.succeeded" => succeeded(&state, &event).await,
        "payment_intent.payment_failed" => failed(&state, &event).await,
        _ => Ok(StatusCode::OK),
    }
}

fn intent_of(event: &StripeEvent) -> Result<(PaymentIntent, String), ApiError> {
    let intent: PaymentIntent = serde_json::from_value(event.data.object.clone())
        .map_err(|_| ApiError::rule("Not a PaymentIntent"))?;
    let order_id = intent
        .metadata
        .get("orderId")
        .cloned()
        .ok_or_else(|| ApiError::rule("PaymentIntent without an orderId"))?;
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

async fn succeeded(state: &PaymentState, event: &StripeEvent) -> Result<StatusCode, ApiError> {
    let (intent, order_id) = intent_of(event)?;
    // Not copied yet: Stripe delivers again later.
    let order = state
        .payments
        .order(&order_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if state.payments.exists(payment_key(&intent.id)).await? {
        return remember(state, event).await;
    }
    let late = order.status == status::CANCELLED
        || (order.status == status::CREATED && order.has_expired(shared::time::unix_now()));
    if late || order.status == status::COMPLETE {
        // Cancelled, expired, or paid by another PaymentIntent: the money goes back.
        state.stripe.refund(&intent.id).await?;
        let items = vec![
            state.payments.first(stripe_event_key(&event.id), &[])?,
            state.payments.first(
                payment_key(&intent.id),
                &[
                    ("orderId", order_id.clone()),
                    ("status", "refunded".to_owned()),
                ],
            )?,
        ];
        let _ = state.payments.transact(items).await?;
        tracing::warn!(order = %order_id, intent = %intent.id, "late payment refunded");
        return Ok(StatusCode::OK);
    }
    record_success(state, &order, &intent, "stripe-webhook").await?;
    remember(state, event).await
}

async fn failed(state: &PaymentState, event: &StripeEvent) -> Result<StatusCode, ApiError> {
    let (intent, order_id) = intent_of(event)?;
    let reason = intent
        .last_payment_error
        .as_ref()
        .and_then(|e| e.message.clone())
        .unwrap_or_else(|| "Payment failed".to_owned());
    let payment_id = uuid::Uuid::now_v7().to_string();
    let announced = CloudEvent::new(
        "stripe-webhook",
        types::PAYMENT_FAILED,
        &payment_id,
        &json!({"id": payment_id, "orderId": order_id, "stripeId": intent.id, "reason": reason}),
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
