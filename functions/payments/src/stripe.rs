//! A small typed Stripe client: the three calls payments makes, form-encoded as Stripe's API wants,
//! and the webhook signature check. Locally `STRIPE_API_BASE` points at `localstripe`.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use shared::config::{Env, FromEnv};
use shared::error::ApiError;

/// Every Stripe call's deadline: a stalled Stripe is a 503 within seconds, well inside the payment
/// attempt's claim (`charge::ATTEMPT_SECONDS`), so an attempt always ends before its claim lapses.
const TIMEOUT: Duration = Duration::from_secs(8);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How old a webhook's signature timestamp may be.
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

/// `STRIPE_API_BASE` (default Stripe's), `STRIPE_SECRET_KEY`, `CURRENCY`: what every payments
/// function needs to call Stripe.
#[derive(Debug, Clone)]
pub struct StripeSettings {
    pub api_base: String,
    pub secret_key: String,
    pub currency: String,
}

impl FromEnv for StripeSettings {
    fn from_env(env: &mut Env) -> Self {
        let currency = env.string_or("CURRENCY", "usd").to_ascii_lowercase();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
            env.invalid(
                "CURRENCY",
                "use a three-letter ISO currency code such as usd",
            );
        }
        Self {
            api_base: env
                .string_or("STRIPE_API_BASE", "https://api.stripe.com")
                .trim_end_matches('/')
                .to_owned(),
            secret_key: env.required("STRIPE_SECRET_KEY"),
            currency,
        }
    }
}

/// `STRIPE_WEBHOOK_SECRET`: the signing secret of the webhook endpoint, read by `stripe-webhook`
/// alone.
#[derive(Debug, Clone)]
pub struct WebhookSecret(pub String);

impl FromEnv for WebhookSecret {
    fn from_env(env: &mut Env) -> Self {
        Self(env.required("STRIPE_WEBHOOK_SECRET"))
    }
}

/// The fields of a PaymentIntent that payments reads.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub amount: i64,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub metadata: std::collections::HashMap<String, String>,
    #[serde(default)]
    pub last_payment_error: Option<StripeErrorBody>,
    /// The charge that paid it: an id, or the charge itself when asked for (`expand`).
    #[serde(default)]
    pub latest_charge: Option<serde_json::Value>,
}

impl PaymentIntent {
    /// When its charge was made (unix seconds), if the charge was given in full.
    pub fn charged_at(&self) -> Option<i64> {
        self.latest_charge.as_ref()?.get("created")?.as_i64()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct StripeErrorBody {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    error: StripeErrorBody,
}

/// How a Stripe call failed.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// The card was declined (402): the message is for the buyer.
    #[error("{0}")]
    Declined(String),
    #[error("Stripe is unreachable: {0}")]
    Unreachable(String),
    #[error("Stripe refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    /// The PaymentIntent's money went back already (a refund older than Stripe's idempotency
    /// window of 24 h).
    #[error("already refunded")]
    AlreadyRefunded,
}

impl From<StripeError> for ApiError {
    fn from(err: StripeError) -> Self {
        match err {
            StripeError::Declined(message) => ApiError::PaymentRequired(message),
            StripeError::Unreachable(_) => ApiError::unavailable(err),
            StripeError::Refused { status, .. } if status == 429 || status >= 500 => {
                ApiError::unavailable(err)
            }
            // The request named something Stripe does not have or cannot use (a payment method
            // that does not exist, a card that cannot be charged): the buyer's to fix, with
            // Stripe's own words.
            StripeError::Refused {
                status: 400 | 404,
                message,
            } => ApiError::Rule(message),
            // Two requests with one idempotency key at once: the other one is paying.
            StripeError::Refused { status: 409, .. } => {
                ApiError::Conflict("A payment for this order is in progress".to_owned())
            }
            // 401/403 (our key), anything else: ours to fix, not the buyer's.
            StripeError::Refused { .. } | StripeError::AlreadyRefunded => ApiError::internal(err),
        }
    }
}

#[derive(Clone)]
pub struct Stripe {
    http: reqwest::Client,
    settings: StripeSettings,
}

impl Stripe {
    pub fn new(settings: StripeSettings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()?;
        Ok(Self { http, settings })
    }

    pub fn settings(&self) -> &StripeSettings {
        &self.settings
    }

    /// Creates and confirms a PaymentIntent. The idempotency key makes a repeated call (a double
    /// click, a retry after a timeout) return the first PaymentIntent instead of charging again.
    pub async fn pay(
        &self,
        amount: contract::Cents,
        payment_method: &str,
        order_id: &str,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeError> {
        let amount = amount.get().to_string();
        let form = [
            ("amount", amount.as_str()),
            ("currency", self.settings.currency.as_str()),
            ("payment_method", payment_method),
            ("confirm", "true"),
            ("metadata[orderId]", order_id),
        ];
        self.post("/v1/payment_intents", &form, idempotency_key)
            .await
    }

    /// Refunds a PaymentIntent in full, once: the idempotency key makes a repeat return the first
    /// refund, and a repeat after Stripe forgot the key finds it refunded already. Any failure is
    /// an outage to retry (503), never the caller's fault: money owed back must not be given up on
    /// because of an answer it could not act on.
    pub async fn refund(&self, payment_intent: &str) -> Result<(), ApiError> {
        let key = format!("refund-{payment_intent}");
        let refunded: Result<serde_json::Value, _> = self
            .post("/v1/refunds", &[("payment_intent", payment_intent)], &key)
            .await;
        match refunded {
            Ok(_) | Err(StripeError::AlreadyRefunded) => Ok(()),
            Err(err) => Err(ApiError::unavailable(err)),
        }
    }

    /// A PaymentIntent as Stripe has it now, with its latest charge (for when it was paid).
    pub async fn intent(&self, id: &str) -> Result<PaymentIntent, StripeError> {
        let response = self
            .http
            .get(format!(
                "{}/v1/payment_intents/{id}?expand%5B%5D=latest_charge",
                self.settings.api_base
            ))
            .bearer_auth(&self.settings.secret_key)
            .send()
            .await
            .map_err(|e| StripeError::Unreachable(e.to_string()))?;
        Self::answer(response).await
    }

    /// Cancels a PaymentIntent that has not succeeded (Stripe refuses, 400, once it has), so
    /// that it can no longer take money.
    pub async fn cancel(&self, id: &str) -> Result<PaymentIntent, StripeError> {
        let path = format!("/v1/payment_intents/{id}/cancel");
        self.post(&path, &[], &format!("cancel-{id}")).await
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        form: &[(&str, &str)],
        idempotency_key: &str,
    ) -> Result<T, StripeError> {
        let body = serde_urlencoded::to_string(form).map_err(|e| StripeError::Refused {
            status: 0,
            message: e.to_string(),
        })?;
        let response = self
            .http
            .post(format!("{}{path}", self.settings.api_base))
            .bearer_auth(&self.settings.secret_key)
            .header("Idempotency-Key", idempotency_key)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| StripeError::Unreachable(e.to_string()))?;
        Self::answer(response).await
    }

    /// Stripe's answer as `T`, or as the error it says.
    async fn answer<T: serde::de::DeserializeOwned>(
        response: reqwest::Response,
    ) -> Result<T, StripeError> {
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| StripeError::Unreachable(e.to_string()))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes).map_err(|e| StripeError::Refused {
                status,
                message: format!("unreadable answer: {e}"),
            });
        }
        let error = serde_json::from_slice::<ErrorEnvelope>(&bytes)
            .ok()
            .map(|e| e.error);
        let code = error.as_ref().and_then(|e| e.code.clone());
        let message = error
            .and_then(|e| e.message)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        if status == 402 {
            Err(StripeError::Declined(message))
        } else if code.as_deref() == Some("charge_already_refunded") {
            Err(StripeError::AlreadyRefunded)
        } else {
            Err(StripeError::Refused { status, message })
        }
    }
}

/// Checks a `Stripe-Signature` header (`t=<unix>,v1=<hex hmac>[,v1=…]`) over the raw body: the HMAC
/// of `<t>.<body>` with the endpoint's secret, compared in constant time, and `t` within the
/// tolerance of `now`.
pub fn signature_is_valid(secret: &str, header: &str, body: &[u8], now: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if now.abs_diff(timestamp) > SIGNATURE_TOLERANCE_SECONDS.unsigned_abs() {
        return false;
    }
    signatures.iter().any(|signature| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(signature).is_ok()
    })
}

/// Signs a payload as Stripe does; for tests and the local stack's tooling.
pub fn sign(secret: &str, body: &[u8], timestamp: i64) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";

    #[test]
    fn a_signature_made_with_the_secret_is_valid() {
        let header = sign(SECRET, b"{}", 1_000);
        assert!(signature_is_valid(SECRET, &header, b"{}", 1_010));
    }

    #[test]
    fn a_changed_body_another_secret_or_an_old_timestamp_is_invalid() {
        let header = sign(SECRET, b"{}", 1_000);
        assert!(!signature_is_valid(SECRET, &header, b"{ }", 1_000));
        assert!(!signature_is_valid("whsec_other", &header, b"{}", 1_000));
        assert!(!signature_is_valid(SECRET, &header, b"{}", 1_000 + 301));
        assert!(!signature_is_valid(SECRET, "garbage", b"{}", 1_000));
        assert!(!signature_is_valid(SECRET, "", b"{}", 1_000));
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let good = sign(SECRET, b"x", 5);
        let v1 = good.split("v1=").nth(1).expect("v1");
        let header = format!("t=5,v1={},v1={v1}", "00".repeat(32));
        assert!(signature_is_valid(SECRET, &header, b"x", 5));
    }
}
