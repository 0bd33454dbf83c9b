//! `copy-order`: keeps this context's copy of each order from `order.created`, `order.cancelled`
//! and `order.completed`, and decides `order.expired` (paid or lapsed). A later version replaces an
//! earlier one; an end that comes before the creation is a 409 for the bridge to retry. It also
//! refunds an order that paid for a resold pass used before the payment (`pass.resale-voided`).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use contract::PaymentId;
use contract::events::{OrderCreatedData, OrderEndedData, OrderExpiredData, PaymentCreatedData};
use contract::passes::{PassResaleVoidedData, types as pass_types};
use shared::error::ApiError;
use shared::events::{CloudEvent, types};
use shared::validation::DataRules;

use crate::PaymentState;
use crate::refunds;
use crate::settle::{Settled, settle};
use crate::store::{Copied, CopyStatus, Lapse, OrderCopy, order_key};
use crate::stripe::StripeError;

pub fn router(state: PaymentState) -> Router {
    Router::new().route("/", post(copy_order)).with_state(state)
}

async fn copy_order(
    State(state): State<PaymentState>,
    event: CloudEvent,
) -> Result<StatusCode, ApiError> {
    event.expect_type(&[
        types::ORDER_CREATED,
        types::ORDER_CANCELLED,
        types::ORDER_COMPLETED,
        types::ORDER_EXPIRED,
        pass_types::PASS_RESALE_VOIDED,
    ])?;
    match event.kind.as_str() {
        types::ORDER_CREATED => copy(&state, &event).await,
        types::ORDER_EXPIRED => lapse(&state, &event).await,
        pass_types::PASS_RESALE_VOIDED => void(&state, &event).await,
        _ => end(&state, &event).await,
    }
}

/// `order.created`: the copy, once.
async fn copy(state: &PaymentState, event: &CloudEvent) -> Result<StatusCode, ApiError> {
    let order: OrderCreatedData = event.payload()?;
    let copy = OrderCopy {
        pk: order_key(order.id.as_str()),
        id: order.id,
        user_id: order.user_id,
        status: CopyStatus::Created,
        total: order.total,
        expires_at_unix: time_of(&order.expires_at)?,
        version: order.version,
        attempt_until: None,
        paid_by: None,
        pending_intent: None,
    };
    state.payments.insert_copy(&copy).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `order.cancelled` / `order.completed`: a later version replaces an earlier one. A cancellation
/// of an order this context already has paid (the buyer cancelled while the payment went through)
/// makes that payment owed back in the same write, then refunds it ([`refunds`]): money is never
/// kept for a cancelled order, however long Stripe is away.
async fn end(state: &PaymentState, event: &CloudEvent) -> Result<StatusCode, ApiError> {
    let order: OrderEndedData = event.payload()?;
    let id = order.id.as_str();
    let to = if event.kind == types::ORDER_CANCELLED {
        CopyStatus::Cancelled
    } else {
        CopyStatus::Complete
    };
    for _ in 0..3 {
        match state.payments.apply_end(id, to, order.version).await? {
            Copied::Applied | Copied::Stale => return Ok(StatusCode::NO_CONTENT),
            Copied::NotCopied => {
                return Err(ApiError::Conflict(format!(
                    "{} before the order's creation",
                    event.kind
                )));
            }
            Copied::PaidButCancelled(stripe_id) => {
                if state
                    .payments
                    .cancel_paid(id, &stripe_id, order.version)
                    .await?
                {
                    tracing::warn!(order = %id, intent = %stripe_id,
                        "order cancelled while being paid: payment owed back");
                    refunds::try_now(state, id, &stripe_id).await;
                    return Ok(StatusCode::NO_CONTENT);
                }
            }
            Copied::Raced => {}
        }
    }
    Err(ApiError::Conflict(
        "Order copy modified concurrently".to_owned(),
    ))
}

/// `pass.resale-voided`: the order paid for a resold pass that was used before the payment, so the
/// passes context issued nothing. Its payment becomes owed back (one conditional transaction, so a
/// repeated event owes nothing more), then is refunded at once, or by `relay-payments` later. The
/// copy itself is left as it is: the order stays complete in orders, only its money goes back.
async fn void(state: &PaymentState, event: &CloudEvent) -> Result<StatusCode, ApiError> {
    let data: PassResaleVoidedData = event.data_as()?;
    let mut rules = DataRules::new();
    rules
        .id("orderId", data.order_id.as_str())
        .id("ticketId", data.ticket_id.as_str())
        .id("passId", data.pass_id.as_str());
    rules.finish(&event.kind)?;
    let id = data.order_id.as_str();
    let Some(stripe_id) = state
        .payments
        .order(id)
        .await?
        .and_then(|copy| copy.paid_by)
    else {
        // Cannot be for an order that completed (it completes on this context's payment); the
        // bridge retries, and the dead letters keep it if it never resolves.
        return Err(ApiError::Conflict(format!(
            "{} for order {id}, which payments has not seen paid",
            event.kind
        )));
    };
    if state.payments.void_payment(id, &stripe_id).await? {
        tracing::warn!(order = %id, intent = %stripe_id, pass = %data.pass_id,
            "resale voided (the pass was used first): payment owed back");
        refunds::try_now(state, id, &stripe_id).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `order.expired`: payments decides the race between "paid" and "expired" here, in one
/// conditional write on the copy; only if the order is unpaid does `payment.lapsed` tell orders to
/// cancel it. A payment attempt in flight is waited for (409: the bridge retries); a PaymentIntent
/// left waiting for 3-D Secure is asked about first ([`authentication`]). An order found paid is
/// announced again (`payment.created`), in case the first announcement never reached orders.
async fn lapse(state: &PaymentState, event: &CloudEvent) -> Result<StatusCode, ApiError> {
    let data: OrderExpiredData = event.payload()?;
    let id = data.order_id.as_str().to_owned();
    let now = shared::time::unix_now();
    if let Some(copy) = state.payments.order(&id).await?
        && let Some(stripe_id) = copy.pending_intent.clone()
        && copy.awaits_verdict(now)
        && authentication(state, &copy, &stripe_id, now).await? == Verdict::Paid
    {
        return Ok(StatusCode::NO_CONTENT);
    }
    let lapsed = CloudEvent::of(
        "copy-order",
        types::PAYMENT_LAPSED,
        &id,
        &OrderExpiredData {
            order_id: data.order_id.clone(),
            expires_at: data.expires_at.clone(),
        },
    )?;
    let record = state.outbox.record(&lapsed)?;
    match state.payments.lapse(&id, now, record).await? {
        Lapse::Lapsed => {
            state.outbox.publish(&[lapsed]).await;
            Ok(StatusCode::NO_CONTENT)
        }
        Lapse::Paid => {
            announce_again(state, &id).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        Lapse::Ended => Ok(StatusCode::NO_CONTENT),
        Lapse::AttemptInFlight => Err(ApiError::Conflict(
            "A payment attempt is in flight".to_owned(),
        )),
        Lapse::NotCopied => Err(ApiError::Conflict(
            "order.expired before the order's creation".to_owned(),
        )),
        // Early by more than the skew allowed: the sweep's clock runs ahead. Its timer has fired
        // and will not fire again, so this event is retried (409) until it is due, never dropped.
        Lapse::NotDue => Err(ApiError::Conflict(format!(
            "Order {id} does not expire until after {}",
            data.expires_at
        ))),
    }
}

/// What an expiry found of a PaymentIntent that waited for authentication.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// It succeeded in time and now pays the order.
    Paid,
    /// It can no longer pay the order (cancelled, failed, too late and refunded): let it lapse.
    Lapse,
}

/// How long after `expiresAt` an expiry waits for Stripe to answer about a PaymentIntent that
/// waited for authentication. After that the order lapses anyway: a success that comes later is
/// refunded by the webhook, so the tickets go back on sale and no money is kept.
const STRIPE_GRACE_SECONDS: i64 = 120;

/// Asks Stripe about `stripe_id`, left waiting for 3-D Secure, before `order` may lapse. Cancelling
/// it first means it can never succeed afterwards; if Stripe refuses, it succeeded (or is still
/// being processed), and its charge's time says whether that was before `expiresAt`.
async fn authentication(
    state: &PaymentState,
    order: &OrderCopy,
    stripe_id: &str,
    now: i64,
) -> Result<Verdict, ApiError> {
    let asked = match state.stripe.cancel(stripe_id).await {
        Ok(_) => Ok(None),
        Err(StripeError::Refused { status: 400, .. }) => {
            state.stripe.intent(stripe_id).await.map(Some)
        }
        Err(err) => Err(err),
    };
    let intent = match asked {
        Ok(None) => {
            state
                .payments
                .forget_pending(order.id.as_str(), stripe_id)
                .await;
            return Ok(Verdict::Lapse);
        }
        Ok(Some(intent)) => intent,
        Err(err) if now < order.expires_at_unix + STRIPE_GRACE_SECONDS => {
            return Err(ApiError::unavailable(err));
        }
        Err(err) => {
            tracing::warn!(order = %order.id, intent = stripe_id, error = %err,
                "Stripe did not answer about a PaymentIntent awaiting authentication; the order lapses, and a later success is refunded");
            return Ok(Verdict::Lapse);
        }
    };
    match intent.status.as_str() {
        "succeeded" => {
            let paid_at = intent.charged_at().unwrap_or(now);
            match settle(state, order, &intent, paid_at, "copy-order").await? {
                Settled::Paid(_) => Ok(Verdict::Paid),
                Settled::Refunded => Ok(Verdict::Lapse),
            }
        }
        // Still being processed by the card's bank: its webhook decides; wait for it.
        "processing" if now < order.expires_at_unix + STRIPE_GRACE_SECONDS => Err(
            ApiError::Conflict("A payment for this order is being processed".to_owned()),
        ),
        _ => {
            state
                .payments
                .forget_pending(order.id.as_str(), stripe_id)
                .await;
            Ok(Verdict::Lapse)
        }
    }
}

/// Announces the payment of a paid order again, under a new event id: the first `payment.created`
/// may have gone to the dead letters while orders was away. `complete-order` is idempotent.
async fn announce_again(state: &PaymentState, order_id: &str) -> Result<(), ApiError> {
    let Some(copy) = state.payments.order(order_id).await? else {
        return Ok(());
    };
    let Some(stripe_id) = copy.paid_by else {
        return Ok(());
    };
    let Some(payment_id) = state
        .payments
        .payment(&stripe_id)
        .await?
        .and_then(|record| record.id)
    else {
        return Ok(());
    };
    let event = CloudEvent::of(
        "copy-order",
        types::PAYMENT_CREATED,
        &payment_id,
        &PaymentCreatedData {
            id: PaymentId::from(payment_id.as_str()),
            order_id: copy.id,
            stripe_id,
            amount: copy.total,
            currency: state.stripe.settings().currency.to_ascii_lowercase(),
        },
    )?;
    state.announce(event).await
}

fn time_of(text: &str) -> Result<i64, ApiError> {
    shared::time::parse_rfc3339(text)
        .map(|t| t.unix_timestamp())
        .ok_or_else(|| ApiError::rule("Event with an unreadable expiresAt"))
}
