//! Paying for orders through NGINX, with localstripe as Stripe and its webhooks.

use std::time::Duration;

use e2e::Stack;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};

const WEBHOOK_SECRET: &str = "whsec_local_not_a_secret";

struct Shop {
    stack: Stack,
    http: reqwest::Client,
    seller: String,
    buyer: String,
    ticket: String,
}

impl Shop {
    async fn open(env: &[(&str, &str)], quantity: i64) -> Self {
        let stack = Stack::start(env).await;
        let http = reqwest::Client::new();
        let seller = stack.sign_up(&http, "seller@example.com").await;
        let buyer = stack.sign_up(&http, "buyer@example.com").await;
        let ticket = stack.list_and_replicate(&http, &seller, quantity).await;
        Self {
            stack,
            http,
            seller,
            buyer,
            ticket,
        }
    }

    /// Places an order and waits until payments has its copy (paying answers something else than 404).
    async fn order(&self) -> String {
        let response = self
            .stack
            .order(&self.http, &self.buyer, &self.ticket)
            .await;
        assert_eq!(response.status(), 201);
        let order: Value = response.json().await.expect("json");
        let id = order["id"].as_str().expect("id").to_owned();
        // The seller may not pay the buyer's order: 403 once payments has its copy, 404 before.
        for _ in 0..100 {
            let probe = self
                .http
                .post(self.stack.url("/api/payments"))
                .header(AUTHORIZATION, &self.seller)
                .json(&json!({"orderId": id, "paymentMethodId": "pm_card_visa"}))
                .send()
                .await
                .expect("probe");
            if probe.status() == 403 {
                return id;
            }
            assert_eq!(probe.status(), 404);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("payments never got the order");
    }

    async fn pay(&self, order: &str, method: &str) -> (u16, Value) {
        let response = self
            .http
            .post(self.stack.url("/api/payments"))
            .header(AUTHORIZATION, &self.buyer)
            .json(&json!({"orderId": order, "paymentMethodId": method}))
            .send()
            .await
            .expect("pay");
        (
            response.status().as_u16(),
            response.json().await.expect("json"),
        )
    }

    async fn order_status(&self, order: &str) -> Value {
        self.stack.show_order(&self.http, &self.buyer, order).await
    }

    async fn wait_for_status(&self, order: &str, status: &str) {
        for _ in 0..200 {
            if self.order_status(order).await["status"] == status {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("order {order} never became {status}");
    }

    fn stripe(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.stack.ports[3])
    }

    /// A PaymentMethod for a test card number, made in localstripe as Stripe.js would.
    async fn card(&self, number: &str) -> String {
        let created: Value = self
            .http
            .post(self.stripe("/v1/payment_methods"))
            .basic_auth("sk_test_local", Some(""))
            .form(&[
                ("type", "card"),
                ("card[number]", number),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2034"),
                ("card[cvc]", "123"),
            ])
            .send()
            .await
            .expect("create payment method")
            .json()
            .await
            .expect("json");
        created["id"].as_str().expect("pm id").to_owned()
    }

    /// How many PaymentIntents localstripe holds for an order.
    async fn intents_for(&self, order: &str) -> usize {
        let listed: Value = self
            .http
            .get(self.stripe("/v1/payment_intents?limit=100"))
            .basic_auth("sk_test_local", Some(""))
            .send()
            .await
            .expect("list intents")
            .json()
            .await
            .expect("json");
        listed["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter(|pi| pi["metadata"]["orderId"] == order)
            .count()
    }
}

#[tokio::test]
async fn a_paid_order_completes_once_and_two_simultaneous_payments_charge_once() {
    let shop = Shop::open(&[], 3).await;
    let order = shop.order().await;
    let (status, paid) = shop.pay(&order, "pm_card_visa").await;
    assert_eq!(status, 201, "{paid}");
    assert_eq!(paid["status"], "succeeded");
    assert_eq!(paid["orderId"], order.as_str());
    assert!(
        paid["stripeId"]
            .as_str()
            .is_some_and(|id| id.starts_with("pi_"))
    );
    shop.wait_for_status(&order, "complete").await;
    let again = shop.pay(&order, "pm_card_visa").await;
    assert_eq!(
        again,
        (
            400,
            json!({"errors": [{"message": "Order is already paid"}]})
        )
    );
    let path = format!("/api/tickets/{}", shop.ticket);
    shop.stack
        .wait_for(&shop.http, &path, Duration::from_secs(10), |t| {
            t["available"] == 2
        })
        .await;

    let second = shop.order().await;
    let (a, b) = tokio::join!(
        shop.pay(&second, "pm_card_visa"),
        shop.pay(&second, "pm_card_visa")
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert!(
        statuses == [201, 400] || statuses == [201, 409],
        "{a:?} {b:?}"
    );
    assert_eq!(
        shop.intents_for(&second).await,
        1,
        "the card was charged once"
    );
    shop.wait_for_status(&second, "complete").await;
    // Sold tickets stay sold: the listing does not get them back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let listing: Value = shop
        .http
        .get(shop.stack.url(&path))
        .send()
        .await
        .expect("show")
        .json()
        .await
        .expect("json");
    assert_eq!(listing["available"], 1);
    assert!(shop.stack.stop().await);
}

#[tokio::test]
async fn a_declined_card_can_be_replaced_and_a_3d_secure_card_asks_for_action() {
    let shop = Shop::open(&[], 3).await;
    let order = shop.order().await;
    let declined = shop.card("4000000000000341").await;
    let refused = shop.pay(&order, &declined).await;
    assert_eq!(
        refused,
        (
            402,
            json!({"errors": [{"message": "Your card was declined."}]})
        )
    );
    let (status, _) = shop.pay(&order, "pm_card_visa").await;
    assert_eq!(status, 201);

    let other = shop.order().await;
    let secure = shop.card("4000002500003155").await;
    let (status, pending) = shop.pay(&other, &secure).await;
    assert_eq!(status, 202, "{pending}");
    assert_eq!(pending["status"], "requires_action");
    assert!(
        pending["clientSecret"]
            .as_str()
            .is_some_and(|s| s.contains("_secret_"))
    );
    shop.wait_for_status(&other, "awaiting:payment").await;
    assert!(shop.stack.stop().await);
}

#[tokio::test]
async fn expiry_cancels_only_unpaid_orders_and_a_late_payment_is_refused() {
    let shop = Shop::open(
        &[
            ("ORDER_HOLD_SECONDS", "5"),
            ("EXPIRE_INTERVAL_SECONDS", "1"),
        ],
        3,
    )
    .await;
    let paid = shop.order().await;
    let unpaid = shop.order().await;
    assert_eq!(shop.pay(&paid, "pm_card_visa").await.0, 201);
    shop.wait_for_status(&unpaid, "cancelled").await;
    let (status, body) = shop.pay(&unpaid, "pm_card_visa").await;
    assert_eq!(status, 400);
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(
        message == "Order has expired" || message == "Cannot pay for a cancelled order",
        "{message}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        shop.order_status(&paid).await["status"],
        "complete",
        "a paid order never expires"
    );
    assert_eq!(
        shop.intents_for(&unpaid).await,
        0,
        "nothing was charged for the expired order"
    );
    assert!(shop.stack.stop().await);
}

#[tokio::test]
async fn the_webhook_refuses_bad_signatures_and_counts_a_repeated_event_once() {
    let shop = Shop::open(&[], 3).await;
    let order = shop.order().await;
    let event = json!({
        "id": "evt_repeated", "object": "event", "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_from_webhook", "object": "payment_intent", "status": "succeeded",
                             "amount": 2000, "currency": "usd", "metadata": {"orderId": order}}}
    })
    .to_string();
    let send = |signature: String| {
        shop.http
            .post(shop.stack.url("/api/payments/webhook"))
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(event.clone())
            .send()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let forged = send(payments::stripe::sign("whsec_wrong", event.as_bytes(), now))
        .await
        .expect("post");
    assert_eq!(forged.status(), 400);
    assert_eq!(
        shop.order_status(&order).await["status"],
        "created",
        "nothing changed"
    );

    let signature = payments::stripe::sign(WEBHOOK_SECRET, event.as_bytes(), now);
    for _ in 0..2 {
        assert_eq!(send(signature.clone()).await.expect("post").status(), 200);
    }
    shop.wait_for_status(&order, "complete").await;
    assert_eq!(
        shop.order_status(&order).await["version"],
        1,
        "completed once"
    );
    assert!(shop.stack.stop().await);
}
