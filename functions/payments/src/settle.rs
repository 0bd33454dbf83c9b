//! What happens to money that Stripe took: a succeeded PaymentIntent either pays its order or goes
//! back to the buyer, whichever path (`charge`, `stripe-webhook`) sees it, however late.
//!
//! The decision is one conditional write on this context's copy of the order
//! ([`crate::store::Payments::mark_paid`]): paid if the copy still awaits payment and the payment
//! came before `expiresAt`. Otherwise (cancelled, lapsed, paid by another PaymentIntent, or the
//! amount is not the order's) the PaymentIntent is refunded, idempotently (Stripe's idempotency key
//! is derived from the PaymentIntent), and recorded as refunded.

use shared::error::ApiError;
use shared::events::data::PaymentCreatedData;
use shared::events::{CloudEvent, types};

use crate::PaymentState;
use crate::store::{OrderCopy, REFUNDED, SUCCEEDED, payment_key};
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
    if intent.amount != order.total || !intent.currency.eq_ignore_ascii_case(currency) {
        tracing::error!(order = %order.id, intent = %intent.id, amount = intent.amount,
            currency = %intent.currency, expected = order.total,
            "payment does not match the order's amount or currency");
        return refund(state, order, intent).await;
    }
    let payment_id = uuid::Uuid::now_v7().to_string();
    let event = CloudEvent::new(
        function,
        types::PAYMENT_CREATED,
        &payment_id,
        &PaymentCreatedData {
            id: payment_id.clone(),
            order_id: order.id.clone(),
            stripe_id: intent.id.clone(),
            amount: intent.amount,
            currency: intent.currency.to_ascii_lowercase(),
        },
    )?;
    let items = vec![
        state.payments.first(
            payment_key(&intent.id),
            &[
                ("id", payment_id.clone()),
                ("orderId", order.id.clone()),
                ("status", SUCCEEDED.to_owned()),
            ],
        )?,
        state.payments.mark_paid(&order.id, &intent.id, paid_at)?,
        state.outbox.record(&event)?,
    ];
    match state.payments.transact(items).await? {
        Ok(()) => {
            state.outbox.publish(&[event]).await;
            Ok(Settled::Paid(payment_id))
        }
        // Refused: either the other path settled this PaymentIntent already (its record says
        // how), or the order can no longer take a payment (cancelled, lapsed, too late, paid).
        Err(_) => match state.payments.payment(&intent.id).await? {
            Some(record) if record.status == REFUNDED => Ok(Settled::Refunded),
            Some(record) => Ok(Settled::Paid(record.id.unwrap_or(payment_id))),
            None => refund(state, order, intent).await,
        },
    }
}

/// Gives the PaymentIntent's money back and records that, once.
async fn refund(
    state: &PaymentState,
    order: &OrderCopy,
    intent: &PaymentIntent,
) -> Result<Settled, ApiError> {
    state.stripe.refund(&intent.id).await?;
    // A record already there (an earlier refund of this PaymentIntent) is fine.
    let _ = state
        .payments
        .transact(vec![state.payments.first(
            payment_key(&intent.id),
            &[
                ("orderId", order.id.clone()),
                ("status", REFUNDED.to_owned()),
            ],
        )?])
        .await?;
    tracing::warn!(order = %order.id, intent = %intent.id, "payment refunded: the order could not take it");
    Ok(Settled::Refunded)
}
