//! What happens to money that Stripe took: a succeeded PaymentIntent either pays its order or goes
//! back to the buyer, whichever path (`charge`, `stripe-webhook`) sees it, however late.
//!
//! The decision is one conditional write on this context's copy of the order
//! ([`crate::store::Payments::mark_paid`]): paid if the copy still awaits payment and the payment
//! came before `expiresAt`. Otherwise (cancelled, lapsed, paid by another PaymentIntent, or the
//! amount is not the order's) the PaymentIntent is owed back: recorded as such first, then refunded
//! ([`crate::refunds`]: at once, and by `relay-payments` until Stripe has made it).

use contract::events::PaymentCreatedData;
use contract::{Cents, PaymentId};
use shared::error::ApiError;
use shared::events::{CloudEvent, types};

use crate::PaymentState;
use crate::refunds;
use crate::store::{OrderCopy, SUCCEEDED, payment_key};
use crate::stripe::PaymentIntent;

/// What became of a succeeded PaymentIntent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// It paid the order; the payment's id (the first recorder's).
    Paid(String),
    /// The order could not take it: the money went back.
    Refunded,
}

/// Records `intent` as the payment of `order`, or refunds it. `paid_at` is when the payment was
/// made: the attempt's claim for `charge`, Stripe's event time for the webhook.
pub async fn settle(
    state: &PaymentState,
    order: &OrderCopy,
    intent: &PaymentIntent,
    paid_at: i64,
    function: &str,
) -> Result<Settled, ApiError> {
    let currency = &state.stripe.settings().currency;
    if Cents(intent.amount) != order.total || !intent.currency.eq_ignore_ascii_case(currency) {
        tracing::error!(order = %order.id.as_str(), intent = %intent.id, amount = intent.amount,
            currency = %intent.currency, expected = order.total.get(),
            "payment does not match the order's amount or currency");
        return refund(state, order, intent).await;
    }
    let payment_id = uuid::Uuid::now_v7().to_string();
    let event = CloudEvent::of(
        function,
        types::PAYMENT_CREATED,
        &payment_id,
        &PaymentCreatedData {
            id: PaymentId::from(payment_id.as_str()),
            order_id: order.id.clone(),
            stripe_id: intent.id.clone(),
            amount: Cents(intent.amount),
            currency: intent.currency.to_ascii_lowercase(),
        },
    )?;
    let items = vec![
        state.payments.first(
            payment_key(&intent.id),
            &[
                ("id", payment_id.clone()),
                ("orderId", order.id.as_str().to_owned()),
                ("status", SUCCEEDED.to_owned()),
            ],
        )?,
        state
            .payments
            .mark_paid(order.id.as_str(), &intent.id, paid_at)?,
        state.outbox.record(&event)?,
    ];
    match state.payments.transact(items).await? {
        Ok(()) => {
            state.outbox.publish(&[event]).await;
            Ok(Settled::Paid(payment_id))
        }
        // Refused: either the other path settled this PaymentIntent already (its record says
        // how), or the order can no longer take a payment (cancelled, lapsed, too late, paid).
        Err(_) => match recorded(state, &intent.id).await? {
            Some(settled) => Ok(settled),
            None => refund(state, order, intent).await,
        },
    }
}

/// What the PaymentIntent's record says became of it, if it has one.
async fn recorded(state: &PaymentState, stripe_id: &str) -> Result<Option<Settled>, ApiError> {
    Ok(state.payments.payment(stripe_id).await?.map(|record| {
        if record.status == SUCCEEDED {
            Settled::Paid(record.id.unwrap_or_default())
        } else {
            // Owed back, or refunded already.
            Settled::Refunded
        }
    }))
}

/// Gives the PaymentIntent's money back: owed first (durably, once), then asked of Stripe.
async fn refund(
    state: &PaymentState,
    order: &OrderCopy,
    intent: &PaymentIntent,
) -> Result<Settled, ApiError> {
    if !state
        .payments
        .owe_refund(order.id.as_str(), &intent.id)
        .await?
    {
        // The other path recorded this PaymentIntent first: its record says how it ended.
        return Ok(recorded(state, &intent.id)
            .await?
            .unwrap_or(Settled::Refunded));
    }
    refunds::try_now(state, order.id.as_str(), &intent.id).await;
    Ok(Settled::Refunded)
}
