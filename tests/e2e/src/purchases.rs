//! Buying through NGINX as the purchase tests do: placing an order once the orders context knows
//! the listing, paying for it by card once payments knows the order, and counting the refunds
//! localstripe made. Events reach each context a little later than the answer that caused them,
//! so the first steps retry while the next context still answers 404.

use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};

use crate::Stack;

impl Stack {
    /// Places an order of one ticket of `ticket` once the orders context knows the listing; the
    /// order's id.
    pub async fn place(&self, http: &reqwest::Client, buyer: &str, ticket: &str) -> String {
        for _ in 0..150 {
            let response = self.order(http, buyer, ticket).await;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if status == 201 {
                return body["id"].as_str().expect("order id").to_owned();
            }
            assert_eq!(status, 404, "{body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{ticket} never reached the orders context");
    }

    /// Pays `order` by card once payments has its copy of it; the PaymentIntent.
    pub async fn pay(&self, http: &reqwest::Client, buyer: &str, order: &str) -> String {
        for _ in 0..100 {
            let response = http
                .post(self.url("/api/payments"))
                .header(AUTHORIZATION, buyer)
                .json(&json!({"orderId": order, "paymentMethodId": "pm_card_visa"}))
                .send()
                .await
                .expect("pay");
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if status != 404 {
                assert_eq!(status, 201, "{body}");
                return body["stripeId"].as_str().expect("stripe id").to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("payments never got the order {order}");
    }

    /// Places an order of one ticket of `ticket` and pays for it; the order's id.
    pub async fn buy(&self, http: &reqwest::Client, buyer: &str, ticket: &str) -> String {
        let order = self.place(http, buyer, ticket).await;
        self.pay(http, buyer, &order).await;
        order
    }

    /// How many refunds localstripe holds for a PaymentIntent.
    pub async fn refunds_of(&self, http: &reqwest::Client, intent: &str) -> usize {
        let base = self
            .function_env()
            .await
            .remove("STRIPE_API_BASE")
            .expect("STRIPE_API_BASE");
        let refunds: Value = http
            .get(format!("{base}/v1/refunds"))
            .basic_auth("sk_test_local", Some(""))
            .send()
            .await
            .expect("list refunds")
            .json()
            .await
            .expect("json");
        refunds["data"]
            .as_array()
            .expect("refunds")
            .iter()
            .filter(|refund| refund["payment_intent"] == intent)
            .count()
    }
}
