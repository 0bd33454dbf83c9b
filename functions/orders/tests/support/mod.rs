//! An orders context on the real DynamoDB Local and NATS, isolated per test.
#![allow(dead_code)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use contract::api::{Entered, OrderRequest};
use contract::drops::QueueRequest;
use contract::events::{OrderExpiredData, PaymentCreatedData, TicketData, types};
use contract::{Cents, OrderId, PaymentId, Quantity, TicketId, UserId};
use orders::queue::{Admission, Line, QueueEntry};
use orders::store::Orders;
use orders::{OUTBOX, OrderState, TABLES};
use serde_json::Value;
use shared::events::CloudEvent;
use shared::testing::{self, TestStore};

/// A drop's seed as the tickets context makes them: 32 bytes in hex.
pub const SEED: &str = "5f1c0ffee5eed0000000000000000000000000000000000000000000000000ab";

pub struct TestApp {
    pub state: OrderState,
    pub store: TestStore,
    /// The queue's routes, with the admission window the test chose.
    pub line: Line,
}

impl TestApp {
    pub async fn start() -> Self {
        Self::with_hold(Duration::from_secs(900)).await
    }

    /// An app whose drops admit buyers for `admission`.
    pub async fn with_admission(admission: Duration) -> Self {
        let mut app = Self::start().await;
        app.line.admission = Admission::new(admission);
        app
    }

    pub async fn with_hold(hold: Duration) -> Self {
        let store = TestStore::create(TABLES, &OUTBOX).await;
        let state = OrderState {
            orders: Orders::new(store.client(), store.prefix()),
            outbox: store.outbox.clone(),
            sessions: store.sessions.clone(),
            hold,
            holds: std::sync::Arc::new(orders::group_commit::GroupCommit::new(
                orders::store::GROUP_MAX,
            )),
            replicas: std::sync::Arc::default(),
        };
        let line = Line::new(
            state.orders.clone(),
            state.sessions.clone(),
            Admission::default(),
        );
        Self { state, store, line }
    }

    /// The six routes, as NGINX puts them together.
    pub fn api(&self) -> Router {
        shared::routing::finish(
            orders::place_order::router(self.state.clone())
                .merge(orders::list_orders::router(self.state.reading()))
                .merge(orders::show_order::router(self.state.reading()))
                .merge(orders::cancel_order::router(self.state.cancelling()))
                .merge(orders::join_queue::router(self.line.clone()))
                .merge(orders::show_queue::router(self.line.clone())),
        )
    }

    /// A drop replicated here, as `ticket.created` makes it: on sale at `on_sale`, with `seed`;
    /// returns its id.
    pub async fn drop_listing(
        &self,
        seller: &str,
        quantity: i64,
        on_sale: time::OffsetDateTime,
        seed: &str,
    ) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        // As the tickets context writes it: to the second.
        let on_sale = on_sale.replace_nanosecond(0).expect("whole second");
        let data = TicketData {
            title: "Drop".to_owned(),
            on_sale_at: Some(shared::time::rfc3339(on_sale)),
            queue_seed: Some(seed.to_owned()),
            ..ticket_data(&id, seller, 0, quantity, 2000)
        };
        let event = CloudEvent::of("test", types::TICKET_CREATED, &id, &data).expect("event");
        let status = self
            .deliver(orders::replica::router(self.state.orders.clone()), &event)
            .await;
        assert_eq!(status, 204);
        id
    }

    /// A drop whose sales started a minute ago.
    pub async fn drop_on_sale(&self, seller: &str, quantity: i64) -> String {
        let started = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
        self.drop_listing(seller, quantity, started, SEED).await
    }

    /// `POST /api/tickets/:id/queue` for `quantity`.
    pub async fn join(&self, bearer: &str, ticket_id: &str, quantity: u64) -> Response<Body> {
        let body = QueueRequest {
            quantity: Some(Entered::Number(quantity)),
        };
        self.send(testing::authed_json(
            "POST",
            &format!("/api/tickets/{ticket_id}/queue"),
            bearer,
            &serde_json::to_value(body).expect("json"),
        ))
        .await
    }

    /// The entry a join for `quantity` answers with, whatever its status.
    pub async fn joined(&self, bearer: &str, ticket_id: &str, quantity: u64) -> Value {
        testing::json_body(self.join(bearer, ticket_id, quantity).await).await
    }

    /// The entry a join for `quantity` makes, which must be a new one (202).
    pub async fn joined_anew(&self, bearer: &str, ticket_id: &str, quantity: u64) -> Value {
        let response = self.join(bearer, ticket_id, quantity).await;
        assert_eq!(response.status(), 202);
        testing::json_body(response).await
    }

    /// `size` new buyers: `(id, bearer)` each.
    pub fn crowd(&self, size: usize) -> Vec<(String, String)> {
        (0..size).map(|n| self.user(&format!("b{n}"))).collect()
    }

    /// Each of `buyers` joins for 1, a new entry each, in turn: UUIDv7 orders by the millisecond,
    /// so they are 2 ms apart.
    pub async fn join_in_turn(&self, buyers: &[(String, String)], ticket_id: &str) {
        for (_, bearer) in buyers {
            assert_eq!(self.join(bearer, ticket_id, 1).await.status(), 202);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The first of `bearers` is admitted and the others wait behind it in this order.
    pub async fn assert_let_in_order(&self, bearers: &[&str], ticket_id: &str) {
        assert_eq!(self.entry(bearers[0], ticket_id).await["state"], "admitted");
        for (position, bearer) in bearers.iter().enumerate().skip(1) {
            assert_eq!(
                self.entry(bearer, ticket_id).await["position"],
                position,
                "the {position}th in line"
            );
        }
    }

    /// The queue entry of `user_id` as stored, which must exist.
    pub async fn stored_entry(&self, ticket_id: &str, user_id: &str) -> QueueEntry {
        self.state
            .orders
            .entry(ticket_id, user_id)
            .await
            .expect("read")
            .expect("entry")
    }

    /// `DELETE /api/orders/:id` by `bearer`, which must succeed.
    pub async fn cancel(&self, bearer: &str, order: &Value) {
        let id = order["id"].as_str().expect("id");
        let cancelled = self
            .send(testing::authed_empty(
                "DELETE",
                &format!("/api/orders/{id}"),
                bearer,
            ))
            .await;
        assert_eq!(cancelled.status(), 204);
    }

    /// `GET /api/tickets/:id/queue`.
    pub async fn queue(&self, bearer: &str, ticket_id: &str) -> Response<Body> {
        self.send(testing::authed_empty(
            "GET",
            &format!("/api/tickets/{ticket_id}/queue"),
            bearer,
        ))
        .await
    }

    /// The caller's queue entry, which must exist.
    pub async fn entry(&self, bearer: &str, ticket_id: &str) -> Value {
        let response = self.queue(bearer, ticket_id).await;
        assert_eq!(response.status(), 200);
        testing::json_body(response).await
    }

    pub fn user(&self, name: &str) -> (String, String) {
        self.store.user(name)
    }

    pub async fn send(&self, request: Request<Body>) -> Response<Body> {
        testing::send(&self.api(), request).await
    }

    /// Posts an event to a handler; returns the status.
    pub async fn deliver(&self, router: Router, event: &CloudEvent) -> u16 {
        testing::deliver(router, event).await
    }

    /// A `ticket.created` / `ticket.updated` event of a listing.
    pub fn ticket_event(
        &self,
        id: &str,
        seller: &str,
        version: i64,
        quantity: i64,
        price: i64,
    ) -> CloudEvent {
        let kind = if version == 0 {
            types::TICKET_CREATED
        } else {
            types::TICKET_UPDATED
        };
        let data = ticket_data(id, seller, version, quantity, price);
        CloudEvent::of("test", kind, id, &data).expect("event")
    }

    /// A listing replicated here, as `ticket.created` makes it; returns its id.
    pub async fn listing(&self, seller: &str, quantity: i64) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        let event = self.ticket_event(&id, seller, 0, quantity, 2000);
        let status = self
            .deliver(orders::replica::router(self.state.orders.clone()), &event)
            .await;
        assert_eq!(status, 204);
        id
    }

    pub async fn replica(&self, id: &str) -> orders::replica::TicketReplica {
        self.state
            .orders
            .replica(id)
            .await
            .expect("read")
            .expect("replica exists")
    }

    pub async fn order(&self, bearer: &str, ticket_id: &str, quantity: i64) -> Response<Body> {
        self.send(order_request(bearer, ticket_id, quantity, None))
            .await
    }

    /// Places an order that must succeed; returns its JSON.
    pub async fn placed(&self, bearer: &str, ticket_id: &str, quantity: i64) -> Value {
        let response = self.order(bearer, ticket_id, quantity).await;
        assert_eq!(response.status(), 201);
        testing::json_body(response).await
    }
}

/// A listing's terms at `version`, as the tickets context announces them: titled `Show v<version>`.
/// Waits until what a queue route read of its listing a moment ago (the replica, the head of the
/// line: `orders::recent`) has been read again, so that it shows what changed elsewhere (an
/// admission by another instance included: a waiting entry is not read again while the head of
/// the line says it still waits).
pub async fn a_moment_later() {
    tokio::time::sleep(orders::recent::FRESH + Duration::from_millis(50)).await;
}

pub fn ticket_data(id: &str, seller: &str, version: i64, quantity: i64, price: i64) -> TicketData {
    TicketData {
        id: TicketId::from(id),
        version,
        title: format!("Show v{version}"),
        price: Cents(price),
        quantity: Quantity(quantity),
        user_id: UserId::from(seller),
        venue: None,
        starts_at: None,
        on_sale_at: None,
        queue_seed: None,
        resale_of: None,
    }
}

/// `payment.lapsed` of a placed order (its JSON): payments' word that it was not paid in time.
pub fn lapsed(order: &Value) -> CloudEvent {
    let id = order["id"].as_str().expect("id");
    let data = OrderExpiredData {
        order_id: OrderId::from(id),
        expires_at: order["expiresAt"].as_str().expect("expiresAt").to_owned(),
    };
    CloudEvent::of("test", types::PAYMENT_LAPSED, id, &data).expect("event")
}

/// `payment.created`: the payment `payment_id` paid 20.00 for the order `order_id`.
pub fn payment_created(payment_id: &str, order_id: &str) -> CloudEvent {
    let data = PaymentCreatedData {
        id: PaymentId::from(payment_id),
        order_id: OrderId::from(order_id),
        stripe_id: "pi_1".to_owned(),
        amount: Cents(2000),
        currency: "usd".to_owned(),
    };
    CloudEvent::of("test", types::PAYMENT_CREATED, payment_id, &data).expect("event")
}

/// `POST /api/orders` for `quantity` of a listing, with an `Idempotency-Key` when given one.
pub fn order_request(
    bearer: &str,
    ticket_id: &str,
    quantity: i64,
    key: Option<&str>,
) -> Request<Body> {
    let body = OrderRequest {
        ticket_id: ticket_id.to_owned(),
        quantity: Some(Entered::Number(quantity.try_into().expect("a count"))),
    };
    let mut request = testing::authed_json(
        "POST",
        "/api/orders",
        bearer,
        &serde_json::to_value(body).expect("json"),
    );
    if let Some(key) = key {
        request
            .headers_mut()
            .insert("idempotency-key", key.parse().expect("header"));
    }
    request
}
