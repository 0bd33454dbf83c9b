//! An orders context on the real DynamoDB Local and NATS, isolated per test.
#![allow(dead_code)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use orders::store::Orders;
use orders::{OUTBOX, OrderState, TABLES};
use serde_json::{Value, json};
use shared::events::{CloudEvent, types};
use shared::testing::{self, TestStore};

pub struct TestApp {
    pub state: OrderState,
    pub store: TestStore,
}

impl TestApp {
    pub async fn start() -> Self {
        Self::with_hold(Duration::from_secs(900)).await
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
        Self { state, store }
    }

    /// The four routes, as NGINX puts them together.
    pub fn api(&self) -> Router {
        shared::routing::finish(
            orders::place_order::router(self.state.clone())
                .merge(orders::list_orders::router(self.state.reading()))
                .merge(orders::show_order::router(self.state.reading()))
                .merge(orders::cancel_order::router(self.state.cancelling())),
        )
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
