//! An orders context on the real DynamoDB Local and NATS, isolated per test.
#![allow(dead_code)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use orders::queue::{Admission, Line};
use orders::store::Orders;
use orders::{OUTBOX, OrderState, TABLES};
use serde_json::{Value, json};
use shared::events::{CloudEvent, types};
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
        app.line.admission = Admission(admission);
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
        };
        let line = Line {
            orders: state.orders.clone(),
            sessions: state.sessions.clone(),
            admission: Admission::default(),
            advancing: std::sync::Arc::default(),
        };
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
        let event = CloudEvent::new(
            "test",
            types::TICKET_CREATED,
            &id,
            &json!({"id": id, "version": 0, "title": "Drop", "price": 2000, "quantity": quantity,
                "userId": seller, "onSaleAt": shared::time::rfc3339(on_sale), "queueSeed": seed}),
        )
        .expect("event");
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
    pub async fn join(&self, bearer: &str, ticket_id: &str, quantity: i64) -> Response<Body> {
        self.send(testing::authed_json(
            "POST",
            &format!("/api/tickets/{ticket_id}/queue"),
            bearer,
            &json!({"quantity": quantity}),
        ))
        .await
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
        CloudEvent::new(
            "test",
            kind,
            id,
            &json!({"id": id, "version": version, "title": format!("Show v{version}"), "price": price, "quantity": quantity, "userId": seller}),
        )
        .expect("event")
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
        self.send(testing::authed_json(
            "POST",
            "/api/orders",
            bearer,
            &json!({"ticketId": ticket_id, "quantity": quantity}),
        ))
        .await
    }

    /// Places an order that must succeed; returns its JSON.
    pub async fn placed(&self, bearer: &str, ticket_id: &str, quantity: i64) -> Value {
        let response = self.order(bearer, ticket_id, quantity).await;
        assert_eq!(response.status(), 201);
        testing::json_body(response).await
    }
}
