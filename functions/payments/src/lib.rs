//! Payments: card payments through Stripe PaymentIntents ([`charge`]), Stripe's webhook
//! ([`webhook`]), and this context's copy of each order ([`order_copy`], fed by the order events),
//! which says who may pay what until when.

pub mod charge;
pub mod order_copy;
pub mod refunds;
pub mod settle;
pub mod store;
pub mod stripe;
pub mod webhook;

use axum::Router;
use shared::config::{Env, FromEnv};
use shared::dynamo::TableSpec;
use shared::error::ApiError;
use shared::events::CloudEvent;
use shared::outbox::{Outbox, StoreSettings};
use shared::session::Sessions;

use crate::store::Payments;
use crate::stripe::{Stripe, StripeSettings, WebhookSecret};

/// The outbox of this context.
pub const OUTBOX: TableSpec = shared::outbox::table("payments-outbox");

/// The tables this context owns.
pub const TABLES: &[TableSpec] = &[store::TABLE, store::REFUNDS, OUTBOX];

/// What every payments function reads: its tables and NATS, and Stripe's API. `charge` adds the
/// session settings, `stripe-webhook` the webhook's signing secret; nothing else reads them.
pub struct Settings {
    pub store: StoreSettings,
    pub stripe: StripeSettings,
}

impl FromEnv for Settings {
    fn from_env(env: &mut Env) -> Self {
        Self {
            store: StoreSettings::from_env(env),
            stripe: StripeSettings::from_env(env),
        }
    }
}

#[derive(Clone)]
pub struct PaymentState {
    pub payments: Payments,
    pub outbox: Outbox,
    pub stripe: Stripe,
}

/// Why a payments function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("NATS: {0}")]
    Nats(#[from] async_nats::ConnectError),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

impl PaymentState {
    /// Records an event that changes nothing else in this context (its outbox record alone), then
    /// publishes it; the relay publishes it if this publish fails.
    pub async fn announce(&self, event: CloudEvent) -> Result<(), ApiError> {
        self.payments
            .transact(vec![self.outbox.record(&event)?])
            .await?
            .map_err(|_| ApiError::internal("outbox put refused"))?;
        self.outbox.publish(&[event]).await;
        Ok(())
    }

    pub async fn connect(settings: Settings) -> Result<Self, StartError> {
        let (client, outbox) = settings.store.connect(&OUTBOX).await?;
        Ok(Self {
            payments: Payments::new(client, &settings.store.prefix),
            outbox,
            stripe: Stripe::new(settings.stripe)?,
        })
    }
}

pub async fn charge_app((settings, sessions): (Settings, Sessions)) -> Result<Router, StartError> {
    Ok(charge::router(
        PaymentState::connect(settings).await?,
        sessions,
    ))
}

pub async fn webhook_app(
    (settings, secret): (Settings, WebhookSecret),
) -> Result<Router, StartError> {
    Ok(webhook::router(
        PaymentState::connect(settings).await?,
        secret,
    ))
}

pub async fn copy_order_app(settings: Settings) -> Result<Router, StartError> {
    Ok(order_copy::router(PaymentState::connect(settings).await?))
}

/// The `relay-payments` function: publishes outbox records that were not published at once, and
/// makes the refunds still owed.
pub async fn relay_app(settings: Settings) -> Result<Router, StartError> {
    Ok(refunds::relay_router(
        PaymentState::connect(settings).await?,
    ))
}
