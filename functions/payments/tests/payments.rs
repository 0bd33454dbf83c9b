//! Payments against DynamoDB Local, NATS and localstripe.

use axum::Router;
use contract::api::PaymentRequest;
use contract::events::{
    OrderCreatedData, OrderEndedData, OrderExpiredData, OrderedTicket, TicketRef,
};
use contract::passes::{PassId, PassResaleVoidedData, types as pass_types};
use contract::{Cents, OrderId, OrderStatus, Quantity, TicketId, UserId};
use payments::store::Payments;
use payments::stripe::{Stripe, StripeSettings, WebhookSecret, sign};
use payments::{OUTBOX, PaymentState, TABLES, charge, order_copy, refunds, webhook};
use serde_json::{Value, json};
use shared::events::{CloudEvent, types};
use shared::testing::{self, TestStore};

const SECRET: &str = "whsec_payments_test";
/// The listing every test order is for.
const TICKET: &str = "01936f4e-5a2b-7c3d-8e4f-5a6b7c8d9e0f";

struct TestApp {
    state: PaymentState,
    store: TestStore,
}

impl TestApp {
    async fn start() -> Self {
        let store = TestStore::create(TABLES, &OUTBOX).await;
        let stripe = Stripe::new(StripeSettings {
            api_base: testing::dependency("STRIPE_API_BASE"),
            secret_key: "sk_test_local".to_owned(),
            currency: "usd".to_owned(),
        })
        .expect("client");
        let state = PaymentState {
            payments: Payments::new(store.client(), store.prefix()),
            outbox: store.outbox.clone(),
            stripe,
        };
        Self { state, store }
    }

    fn user(&self) -> (String, String) {
        self.store.user("someone")
    }

    async fn post_event(&self, router: Router, event: &CloudEvent) -> u16 {
        testing::deliver(router, event).await
    }

    /// An order of `buyer` copied here, expiring `expires_in` seconds from now.
    async fn order(&self, buyer: &str, expires_in: i64) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        let expires =
            time::OffsetDateTime::from_unix_timestamp(shared::time::unix_now() + expires_in)
                .expect("time");
        let data = OrderCreatedData {
            id: OrderId::from(id.as_str()),
            version: 0,
            status: OrderStatus::Created,
            user_id: UserId::from(buyer),
            expires_at: shared::time::rfc3339(expires),
            quantity: Quantity(1),
            ticket: OrderedTicket {
                id: TicketId::from(TICKET),
                price: Cents(1500),
            },
            total: Cents(1500),
        };
        let event = CloudEvent::of("test", types::ORDER_CREATED, &id, &data).expect("event");
        assert_eq!(
            self.post_event(order_copy::router(self.state.clone()), &event)
                .await,
            204
        );
        id
    }

    async fn end(&self, kind: &str, order: &str, version: i64) -> u16 {
        let event =
            CloudEvent::of("test", kind, order, &ended_data(order, version)).expect("event");
        self.post_event(order_copy::router(self.state.clone()), &event)
            .await
    }

    /// `POST /api/payments` for `order` by `method`.
    async fn pay_by(&self, bearer: &str, order: &str, method: &str) -> (u16, Value) {
        let body = PaymentRequest {
            order_id: order.to_owned(),
            payment_method_id: method.to_owned(),
        };
        self.pay(bearer, serde_json::to_value(body).expect("json"))
            .await
    }

    /// `POST /api/payments` with exactly this body.
    async fn pay(&self, bearer: &str, body: Value) -> (u16, Value) {
        let api = shared::routing::finish(charge::router(
            self.state.clone(),
            self.store.sessions.clone(),
        ));
        let response = testing::send(
            &api,
            testing::authed_json("POST", "/api/payments", bearer, &body),
        )
        .await;
        (
            response.status().as_u16(),
            testing::json_body(response).await,
        )
    }

    async fn webhook(&self, body: &str, signature: &str) -> u16 {
        let api = shared::routing::finish(webhook::router(
            self.state.clone(),
            WebhookSecret(SECRET.to_owned()),
        ));
        let request = axum::http::Request::builder()
            .method("POST")
            .uri("/api/payments/webhook")
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(axum::body::Body::from(body.to_owned()))
            .expect("request");
        testing::send(&api, request).await.status().as_u16()
    }
}

/// A real PaymentIntent in localstripe, paid by card, for `order`; its id.
async fn paid_intent(cents: i64, order: &str) -> String {
    let intent: Value = reqwest::Client::new()
        .post(format!("{}/v1/payment_intents", testing::dependency("STRIPE_API_BASE")))
        .basic_auth("sk_test_local", Some(""))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("amount={cents}&currency=usd&payment_method=pm_card_visa&confirm=true&metadata[orderId]={order}"))
        .send()
        .await
        .expect("create intent")
        .json()
        .await
        .expect("json");
    intent["id"].as_str().expect("pi").to_owned()
}

/// `order.cancelled` / `order.completed` of `order`'s one ticket, at `version`.
fn ended_data(order: &str, version: i64) -> OrderEndedData {
    OrderEndedData {
        id: OrderId::from(order),
        version,
        quantity: Quantity(1),
        ticket: TicketRef {
            id: TicketId::from(TICKET),
        },
    }
}

fn error(message: &str) -> Value {
    json!({"errors": [{"message": message}]})
}

fn succeeded_event(event_id: &str, intent: &str, order: &str) -> String {
    json!({"id": event_id, "object": "event", "type": "payment_intent.succeeded",
           "data": {"object": {"id": intent, "object": "payment_intent", "status": "succeeded",
                                "amount": 1500, "currency": "usd", "metadata": {"orderId": order}}}})
    .to_string()
}

#[tokio::test]
async fn a_card_payment_records_one_payment_and_announces_it() {
    let app = TestApp::start().await;
    let (buyer, bearer) = app.user();
    let order = app.order(&buyer, 600).await;
    let (status, body) = app.pay_by(&bearer, &order, "pm_card_visa").await;
    assert_eq!(status, 201, "{body}");
    let events = app.store.events.events(types::PAYMENT_CREATED).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data["orderId"], order.as_str());
    assert_eq!(events[0].data["amount"], 1500);
    assert_eq!(events[0].data["currency"], "usd");
    assert_eq!(events[0].data["stripeId"], body["stripeId"]);
    assert_eq!(
        app.pay_by(&bearer, &order, "pm_card_visa").await,
        (400, error("Order is already paid"))
    );
}

#[tokio::test]
async fn validation_lookup_and_ownership_come_in_the_contract_order() {
    let app = TestApp::start().await;
    let (buyer, bearer) = app.user();
    let (_, stranger) = app.user();
    let order = app.order(&buyer, 600).await;
    assert_eq!(
        app.pay(&bearer, json!({})).await,
        (
            400,
            json!({"errors": [
                {"message": "OrderId must be provided", "field": "orderId"},
                {"message": "A payment method is required", "field": "paymentMethodId"}
            ]})
        )
    );
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(app.pay_by(&bearer, &unknown, "pm_card_visa").await.0, 404);
    assert_eq!(app.pay_by(&bearer, "nope", "pm_card_visa").await.0, 404);
    assert_eq!(
        app.pay_by(&stranger, &order, "pm_card_visa").await,
        (403, error("Forbidden"))
    );
    let anonymous = testing::send(
        &shared::routing::finish(charge::router(
            app.state.clone(),
            app.store.sessions.clone(),
        )),
        testing::json_request(
            "POST",
            "/api/payments",
            &json!({"orderId": order, "paymentMethodId": "pm_card_visa"}),
        ),
    )
    .await;
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn an_order_past_its_expiry_or_cancelled_is_refused_before_stripe_is_called() {
    let app = TestApp::start().await;
    let (buyer, bearer) = app.user();
    let expired = app.order(&buyer, -1).await;
    assert_eq!(
        app.pay_by(&bearer, &expired, "pm_card_visa").await,
        (400, error("Order has expired"))
    );
    let cancelled = app.order(&buyer, 600).await;
    assert_eq!(app.end(types::ORDER_CANCELLED, &cancelled, 1).await, 204);
    assert_eq!(
        app.pay_by(&bearer, &cancelled, "pm_card_visa").await,
        (400, error("Cannot pay for a cancelled order"))
    );
    assert!(
        app.store
            .events
            .events(types::PAYMENT_CREATED)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn one_stripe_event_delivered_twice_announces_one_payment() {
    let app = TestApp::start().await;
    let (buyer, _) = app.user();
    let order = app.order(&buyer, 600).await;
    let body = succeeded_event("evt_twice", "pi_twice", &order);
    let signature = sign(SECRET, body.as_bytes(), shared::time::unix_now());
    assert_eq!(app.webhook(&body, &signature).await, 200);
    assert_eq!(app.webhook(&body, &signature).await, 200);
    assert_eq!(
        app.store.events.events(types::PAYMENT_CREATED).await.len(),
        1
    );
}

#[tokio::test]
async fn a_bad_or_stale_signature_is_refused_and_changes_nothing() {
    let app = TestApp::start().await;
    let (buyer, bearer) = app.user();
    let order = app.order(&buyer, 600).await;
    let body = succeeded_event("evt_forged", "pi_forged", &order);
    let now = shared::time::unix_now();
    assert_eq!(
        app.webhook(&body, &sign("whsec_other", body.as_bytes(), now))
            .await,
        400
    );
    assert_eq!(
        app.webhook(&body, &sign(SECRET, body.as_bytes(), now - 301))
            .await,
        400
    );
    assert_eq!(app.webhook(&body, "").await, 400);
    assert!(
        app.store
            .events
            .events(types::PAYMENT_CREATED)
            .await
            .is_empty()
    );
    // The order can still be paid.
    assert_eq!(app.pay_by(&bearer, &order, "pm_card_visa").await.0, 201);
}

#[tokio::test]
async fn a_payment_that_succeeds_after_cancellation_is_refunded_and_not_announced() {
    let app = TestApp::start().await;
    let (buyer, _) = app.user();
    let order = app.order(&buyer, 600).await;
    assert_eq!(app.end(types::ORDER_CANCELLED, &order, 1).await, 204);
    // A real PaymentIntent in localstripe, paid after the order ended.
    let intent = paid_intent(1500, &order).await;
    let pi = intent.as_str();
    let body = succeeded_event("evt_late", pi, &order);
    assert_eq!(
        app.webhook(
            &body,
            &sign(SECRET, body.as_bytes(), shared::time::unix_now())
        )
        .await,
        200
    );
    assert!(
        app.store
            .events
            .events(types::PAYMENT_CREATED)
            .await
            .is_empty()
    );
    let refunds: Value = reqwest::Client::new()
        .get(format!(
            "{}/v1/refunds",
            testing::dependency("STRIPE_API_BASE")
        ))
        .basic_auth("sk_test_local", Some(""))
        .send()
        .await
        .expect("list refunds")
        .json()
        .await
        .expect("json");
    assert!(
        refunds["data"]
            .as_array()
            .expect("data")
            .iter()
            .any(|r| r["payment_intent"] == pi),
        "the late payment was refunded: {refunds}"
    );
}

#[tokio::test]
async fn order_ends_before_the_copy_are_retried_and_duplicates_change_nothing() {
    let app = TestApp::start().await;
    let (buyer, bearer) = app.user();
    let early = uuid::Uuid::now_v7().to_string();
    assert_eq!(app.end(types::ORDER_CANCELLED, &early, 1).await, 409);
    let order = app.order(&buyer, 600).await;
    assert_eq!(app.end(types::ORDER_COMPLETED, &order, 1).await, 204);
    assert_eq!(app.end(types::ORDER_COMPLETED, &order, 1).await, 204);
    assert_eq!(
        app.pay_by(&bearer, &order, "pm_card_visa").await,
        (400, error("Order is already paid"))
    );
}

impl TestApp {
    async fn expire(&self, order: &str) -> u16 {
        let data = OrderExpiredData {
            order_id: OrderId::from(order),
            expires_at: "2026-01-01T00:00:00Z".to_owned(),
        };
        let event = CloudEvent::of("test", types::ORDER_EXPIRED, order, &data).expect("event");
        self.post_event(order_copy::router(self.state.clone()), &event)
            .await
    }

    async fn copy_status(&self, order: &str) -> String {
        self.state
            .payments
            .order(order)
            .await
            .expect("read")
            .expect("copy")
            .status
            .as_str()
            .to_owned()
    }

    async fn refunds_of(&self, intent: &str) -> usize {
        let refunds: Value = reqwest::Client::new()
            .get(format!(
                "{}/v1/refunds",
                testing::dependency("STRIPE_API_BASE")
            ))
            .basic_auth("sk_test_local", Some(""))
            .send()
            .await
            .expect("list refunds")
            .json()
            .await
            .expect("json");
        refunds["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter(|r| r["payment_intent"] == intent)
            .count()
    }
}

#[tokio::test]
async fn a_payment_made_in_time_wins_over_an_expiry_that_arrives_later() {
    let app = TestApp::start().await;
    let (buyer, bearer) = app.user();
    let order = app.order(&buyer, 2).await;
    let (status, _) = app.pay_by(&bearer, &order, "pm_card_visa").await;
    assert_eq!(status, 201);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    // The sweep's event comes after expiresAt, before orders has heard of the payment.
    assert_eq!(app.expire(&order).await, 204);
    assert_eq!(app.expire(&order).await, 204);
    assert!(
        app.store
            .events
            .events(types::PAYMENT_LAPSED)
            .await
            .is_empty(),
        "a paid order is never let lapse"
    );
    assert_eq!(app.copy_status(&order).await, "complete");
}

#[tokio::test]
async fn an_unpaid_order_lapses_once_and_can_no_longer_be_paid() {
    let app = TestApp::start().await;
    let (buyer, bearer) = app.user();
    let order = app.order(&buyer, -1).await;
    assert_eq!(app.expire(&order).await, 204);
    assert_eq!(app.expire(&order).await, 204);
    let lapsed = app.store.events.events(types::PAYMENT_LAPSED).await;
    assert_eq!(lapsed.len(), 1);
    assert_eq!(lapsed[0].data["orderId"], order.as_str());
    assert_eq!(
        app.pay_by(&bearer, &order, "pm_card_visa").await,
        (400, error("Order has expired"))
    );
}

#[tokio::test]
async fn an_expiry_waits_while_a_payment_attempt_is_in_flight() {
    let app = TestApp::start().await;
    let (buyer, _) = app.user();
    let order = app.order(&buyer, 1).await;
    let now = shared::time::unix_now();
    assert!(
        app.state
            .payments
            .claim_attempt(&order, now, 60)
            .await
            .expect("claim")
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(app.expire(&order).await, 409, "retried after the attempt");
    app.state.payments.release_attempt(&order).await;
    assert_eq!(app.expire(&order).await, 204);
    assert_eq!(
        app.store.events.events(types::PAYMENT_LAPSED).await.len(),
        1
    );
}

#[tokio::test]
async fn an_expiry_ahead_of_time_or_before_the_copy_is_not_applied() {
    let app = TestApp::start().await;
    let (buyer, _) = app.user();
    let order = app.order(&buyer, 600).await;
    assert_eq!(app.expire(&order).await, 409, "retried until it is due");
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(app.expire(&unknown).await, 409);
    assert_eq!(app.expire("not-an-id").await, 400);
    assert_eq!(app.copy_status(&order).await, "created");
}

#[tokio::test]
async fn an_order_cancelled_while_its_payment_went_through_is_refunded_once() {
    let app = TestApp::start().await;
    let (buyer, bearer) = app.user();
    let order = app.order(&buyer, 600).await;
    let (status, paid) = app.pay_by(&bearer, &order, "pm_card_visa").await;
    assert_eq!(status, 201);
    let intent = paid["stripeId"].as_str().expect("stripe id");
    // The buyer's cancel reached orders before `payment.created` did.
    assert_eq!(app.end(types::ORDER_CANCELLED, &order, 1).await, 204);
    assert_eq!(app.end(types::ORDER_CANCELLED, &order, 1).await, 204);
    assert_eq!(app.copy_status(&order).await, "cancelled");
    assert_eq!(app.refunds_of(intent).await, 1);
}

#[tokio::test]
async fn a_webhook_payment_of_another_amount_is_refunded_not_recorded() {
    let app = TestApp::start().await;
    let (buyer, _) = app.user();
    let order = app.order(&buyer, 600).await;
    let intent = paid_intent(1, &order).await;
    let pi = intent.as_str();
    let body = json!({"id": "evt_cent", "object": "event", "type": "payment_intent.succeeded",
        "data": {"object": {"id": pi, "object": "payment_intent", "status": "succeeded",
                            "amount": 1, "currency": "usd", "metadata": {"orderId": order}}}})
    .to_string();
    let signature = sign(SECRET, body.as_bytes(), shared::time::unix_now());
    assert_eq!(app.webhook(&body, &signature).await, 200);
    assert!(
        app.store
            .events
            .events(types::PAYMENT_CREATED)
            .await
            .is_empty()
    );
    assert_eq!(app.copy_status(&order).await, "created");
    assert_eq!(app.refunds_of(pi).await, 1);
}

#[tokio::test]
async fn payment_methods_that_are_not_stripe_ids_are_refused_before_stripe() {
    let app = TestApp::start().await;
    let (buyer, bearer) = app.user();
    let order = app.order(&buyer, 600).await;
    for method in ["tok_visa", "é", "../v1/charges", "pm\ncard", "\u{0}"] {
        assert_eq!(
            app.pay_by(&bearer, &order, method).await,
            (
                400,
                json!({"errors": [{"message": "A payment method is required", "field": "paymentMethodId"}]})
            ),
            "{method:?}"
        );
    }
    // Well-formed, but Stripe has no such method: Stripe's 4xx is the buyer's, never a 5xx.
    let (status, body) = app.pay_by(&bearer, &order, "pm_no_such_method").await;
    assert!((400..500).contains(&status), "{status} {body}");
    // A malformed order id names nothing.
    assert_eq!(
        app.pay_by(&bearer, "not-an-id", "pm_card_visa").await,
        (404, error("Not Found"))
    );
}

#[tokio::test]
async fn a_webhook_waits_while_the_charge_that_made_its_payment_is_still_settling() {
    let app = TestApp::start().await;
    let (buyer, _) = app.user();
    let order = app.order(&buyer, 600).await;
    let now = shared::time::unix_now();
    assert!(
        app.state
            .payments
            .claim_attempt(&order, now, 60)
            .await
            .expect("claim")
    );
    let body = succeeded_event("evt_settling", "pi_settling", &order);
    let signature = sign(SECRET, body.as_bytes(), now);
    assert_eq!(app.webhook(&body, &signature).await, 409, "Stripe retries");
    app.state.payments.release_attempt(&order).await;
    assert_eq!(app.webhook(&body, &signature).await, 200);
    assert_eq!(app.copy_status(&order).await, "complete");
}

impl TestApp {
    /// The same functions, with Stripe unreachable (a closed port on loopback).
    fn with_stripe_away(&self) -> PaymentState {
        let mut state = self.state.clone();
        state.stripe = Stripe::new(StripeSettings {
            api_base: "http://127.0.0.1:9".to_owned(),
            ..self.state.stripe.settings().clone()
        })
        .expect("client");
        state
    }

    async fn payment_status(&self, intent: &str) -> String {
        self.state
            .payments
            .payment(intent)
            .await
            .expect("read")
            .expect("payment record")
            .status
    }
}

/// Sleeps until just after `expires_at` (unix seconds).
async fn sleep_past(expires_at: i64) {
    let left = (expires_at + 1 - shared::time::unix_now()).max(0);
    tokio::time::sleep(std::time::Duration::from_secs(left.unsigned_abs())).await;
}

/// localstripe's card that asks for 3-D Secure: a PaymentMethod of it.
async fn authenticating_method() -> String {
    let method: Value = stripe_post(
        "/v1/payment_methods",
        "type=card&card[number]=4000002760003184&card[exp_month]=12&card[exp_year]=2030&card[cvc]=123",
    )
    .await;
    method["id"].as_str().expect("pm").to_owned()
}

async fn stripe_post(path: &str, form: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{}{path}", testing::dependency("STRIPE_API_BASE")))
        .basic_auth("sk_test_local", Some(""))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .expect("stripe")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn a_refund_stripe_cannot_make_now_stays_owed_until_the_relay_makes_it() {
    let app = TestApp::start().await;
    let (buyer, bearer) = app.user();
    let order = app.order(&buyer, 600).await;
    let (status, paid) = app.pay_by(&bearer, &order, "pm_card_visa").await;
    assert_eq!(status, 201);
    let intent = paid["stripeId"].as_str().expect("stripe id");
    // The buyer's cancel arrives while Stripe is away: accepted, and the money is owed back.
    let cancelled = CloudEvent::of(
        "test",
        types::ORDER_CANCELLED,
        &order,
        &ended_data(&order, 1),
    )
    .expect("event");
    let away = order_copy::router(app.with_stripe_away());
    assert_eq!(app.post_event(away, &cancelled).await, 204);
    assert_eq!(app.copy_status(&order).await, "cancelled");
    assert_eq!(app.refunds_of(intent).await, 0);
    assert_eq!(app.payment_status(intent).await, "refund_due");
    // Stripe is back: the relay makes the refund, once, however often it runs.
    assert_eq!(refunds::relay(&app.state, 0).await.expect("relay"), 1);
    assert_eq!(refunds::relay(&app.state, 0).await.expect("relay"), 0);
    assert_eq!(app.refunds_of(intent).await, 1);
    assert_eq!(app.payment_status(intent).await, "refunded");
}

#[tokio::test]
async fn a_webhook_payment_refused_while_stripe_is_away_is_refunded_later() {
    let app = TestApp::start().await;
    let (buyer, _) = app.user();
    let order = app.order(&buyer, 600).await;
    let intent = paid_intent(1, &order).await;
    let body = json!({"id": "evt_away", "object": "event", "type": "payment_intent.succeeded",
        "data": {"object": {"id": intent, "object": "payment_intent", "status": "succeeded",
                            "amount": 1, "currency": "usd", "metadata": {"orderId": order}}}})
    .to_string();
    let signature = sign(SECRET, body.as_bytes(), shared::time::unix_now());
    let away = shared::routing::finish(webhook::router(
        app.with_stripe_away(),
        WebhookSecret(SECRET.to_owned()),
    ));
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/api/payments/webhook")
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(axum::body::Body::from(body))
        .expect("request");
    assert_eq!(testing::send(&away, request).await.status().as_u16(), 200);
    assert_eq!(app.refunds_of(&intent).await, 0);
    assert_eq!(refunds::relay(&app.state, 0).await.expect("relay"), 1);
    assert_eq!(app.refunds_of(&intent).await, 1);
}

#[tokio::test]
async fn a_payment_authenticated_in_time_completes_its_order_though_the_expiry_comes_first() {
    let app = TestApp::start().await;
    let (buyer, bearer) = app.user();
    let expires_at = shared::time::unix_now() + 8;
    let order = app.order(&buyer, 8).await;
    let method = authenticating_method().await;
    let (status, pending) = app.pay_by(&bearer, &order, &method).await;
    assert_eq!(status, 202, "{pending}");
    let intent = pending["stripeId"].as_str().expect("stripe id");
    let secret = pending["clientSecret"].as_str().expect("client secret");
    // The buyer passes 3-D Secure in time; Stripe's webhook is slow to come.
    let authenticated = stripe_post(
        &format!("/v1/payment_intents/{intent}/_authenticate"),
        &format!("client_secret={secret}&success=true"),
    )
    .await;
    assert_eq!(authenticated["status"], "succeeded");
    sleep_past(expires_at).await;
    assert_eq!(app.expire(&order).await, 204);
    assert!(
        app.store
            .events
            .events(types::PAYMENT_LAPSED)
            .await
            .is_empty(),
        "paid in time, never lapsed"
    );
    assert_eq!(app.copy_status(&order).await, "complete");
    let created = app.store.events.events(types::PAYMENT_CREATED).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].data["stripeId"], intent);
    assert_eq!(app.refunds_of(intent).await, 0);
}

#[tokio::test]
async fn a_payment_left_unauthenticated_is_cancelled_at_stripe_when_its_order_lapses() {
    let app = TestApp::start().await;
    let (buyer, bearer) = app.user();
    let expires_at = shared::time::unix_now() + 8;
    let order = app.order(&buyer, 8).await;
    let method = authenticating_method().await;
    let (status, pending) = app.pay_by(&bearer, &order, &method).await;
    assert_eq!(status, 202, "{pending}");
    let intent = pending["stripeId"].as_str().expect("stripe id");
    sleep_past(expires_at).await;
    assert_eq!(app.expire(&order).await, 204);
    assert_eq!(
        app.store.events.events(types::PAYMENT_LAPSED).await.len(),
        1
    );
    let late = app.state.stripe.intent(intent).await.expect("intent");
    assert_eq!(late.status, "canceled", "it can no longer take money");
}

#[tokio::test]
async fn an_expiry_of_a_paid_order_announces_its_payment_again() {
    let app = TestApp::start().await;
    let (buyer, bearer) = app.user();
    let expires_at = shared::time::unix_now() + 8;
    let order = app.order(&buyer, 8).await;
    let (status, paid) = app.pay_by(&bearer, &order, "pm_card_visa").await;
    assert_eq!(status, 201);
    sleep_past(expires_at).await;
    // Orders never completed it (its `payment.created` went to the dead letters): the sweep's
    // expiry reaches payments, which finds it paid and says so again.
    assert_eq!(app.expire(&order).await, 204);
    let created = app.store.events.events(types::PAYMENT_CREATED).await;
    assert_eq!(created.len(), 2);
    assert!(created.iter().all(|event| event.data["id"] == paid["id"]));
    assert_ne!(
        created[0].id, created[1].id,
        "a new event, not deduplicated away"
    );
}

impl TestApp {
    /// `pass.resale-voided` for `order`: it bought a resold pass used before it was paid.
    async fn resale_voided(&self, state: PaymentState, order: &str) -> u16 {
        let data = PassResaleVoidedData {
            order_id: OrderId::from(order),
            ticket_id: TicketId::from(TICKET),
            pass_id: PassId::from("0193a1b2-0000-8000-8000-000000000005"),
        };
        let event =
            CloudEvent::of("test", pass_types::PASS_RESALE_VOIDED, order, &data).expect("event");
        self.post_event(order_copy::router(state), &event).await
    }

    /// A paid and completed order of a new buyer; its id and PaymentIntent.
    async fn paid_order(&self) -> (String, String) {
        let (buyer, bearer) = self.user();
        let order = self.order(&buyer, 600).await;
        let (status, paid) = self.pay_by(&bearer, &order, "pm_card_visa").await;
        assert_eq!(status, 201);
        assert_eq!(self.end(types::ORDER_COMPLETED, &order, 2).await, 204);
        let intent = paid["stripeId"].as_str().expect("stripe id").to_owned();
        (order, intent)
    }
}

#[tokio::test]
async fn a_voided_resale_delivered_twice_refunds_its_payment_once() {
    let app = TestApp::start().await;
    let (order, intent) = app.paid_order().await;
    assert_eq!(app.resale_voided(app.state.clone(), &order).await, 204);
    assert_eq!(app.resale_voided(app.state.clone(), &order).await, 204);
    assert_eq!(app.refunds_of(&intent).await, 1);
    assert_eq!(app.payment_status(&intent).await, "refunded");
    assert_eq!(
        app.copy_status(&order).await,
        "complete",
        "the order is left to orders"
    );
    assert_eq!(refunds::relay(&app.state, 0).await.expect("relay"), 0);
    assert_eq!(app.refunds_of(&intent).await, 1);
}

#[tokio::test]
async fn a_voided_resale_stripe_cannot_refund_now_is_refunded_by_the_relay() {
    let app = TestApp::start().await;
    let (order, intent) = app.paid_order().await;
    assert_eq!(app.resale_voided(app.with_stripe_away(), &order).await, 204);
    assert_eq!(app.payment_status(&intent).await, "refund_due");
    assert_eq!(app.refunds_of(&intent).await, 0);
    // Delivered again while the refund is still owed: owed once, not twice.
    assert_eq!(app.resale_voided(app.with_stripe_away(), &order).await, 204);
    assert_eq!(refunds::relay(&app.state, 0).await.expect("relay"), 1);
    assert_eq!(app.refunds_of(&intent).await, 1);
    assert_eq!(app.payment_status(&intent).await, "refunded");
}

#[tokio::test]
async fn a_voided_resale_of_an_order_not_seen_paid_is_retried_and_bad_data_refused() {
    let app = TestApp::start().await;
    let (buyer, _) = app.user();
    let unpaid = app.order(&buyer, 600).await;
    assert_eq!(app.resale_voided(app.state.clone(), &unpaid).await, 409);
    assert_eq!(app.resale_voided(app.state.clone(), "not-an-id").await, 400);
}
