//! A tickets context on the real DynamoDB Local and NATS, isolated per test.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::Response;
use serde_json::{Value, json};
use shared::events::{CloudEvent, types};
use shared::testing::{self, TestStore};
use tickets::store::Tickets;
use tickets::{OUTBOX, TABLES, TicketState, holds};

pub struct TestApp {
    pub state: TicketState,
    pub store: TestStore,
}

impl TestApp {
    pub async fn start() -> Self {
        let store = TestStore::create(TABLES, &OUTBOX).await;
        let state = TicketState {
            tickets: Tickets::new(store.client(), store.prefix()),
            outbox: store.outbox.clone(),
            sessions: store.sessions.clone(),
        };
        Self { state, store }
    }

    /// The listing routes, as NGINX puts them together.
    pub fn api(&self) -> Router {
        shared::routing::finish(
            tickets::create_ticket::router(self.state.clone())
                .merge(tickets::list_tickets::router(self.state.tickets.clone()))
                .merge(tickets::show_ticket::router(self.state.tickets.clone()))
                .merge(tickets::update_ticket::router(self.state.clone()))
                .merge(tickets::withdraw_ticket::router(self.state.clone())),
        )
    }

    pub fn user(&self, name: &str) -> (String, String) {
        self.store.user(name)
    }

    pub async fn send(&self, request: axum::http::Request<Body>) -> Response<Body> {
        testing::send(&self.api(), request).await
    }

    /// Lists a ticket; returns its JSON.
    pub async fn list(&self, bearer: &str, title: &str, quantity: i64) -> Value {
        let response = self
            .send(testing::authed_json(
                "POST",
                "/api/tickets",
                bearer,
                &json!({"title": title, "price": 20, "quantity": quantity}),
            ))
            .await;
        assert_eq!(response.status(), 201);
        testing::json_body(response).await
    }

    pub async fn show(&self, id: &str) -> Value {
        let response = self
            .send(testing::empty_request("GET", &format!("/api/tickets/{id}")))
            .await;
        assert_eq!(response.status(), 200);
        testing::json_body(response).await
    }

    /// Delivers an order event to the handler of its type; returns the status.
    pub async fn order_event(
        &self,
        kind: &str,
        order_id: &str,
        ticket_id: &str,
        quantity: i64,
    ) -> u16 {
        self.order_event_with(kind, &order_data(kind, order_id, ticket_id, quantity))
            .await
    }

    /// Delivers an order event with exactly this data to the handler of its type.
    pub async fn order_event_with(&self, kind: &str, data: &Value) -> u16 {
        let tickets = self.state.tickets.clone();
        let router = match kind {
            types::ORDER_CREATED => holds::router(tickets, holds::HOLD),
            types::ORDER_CANCELLED => holds::release_router(holds::ReleaseState {
                tickets,
                outbox: self.state.outbox.clone(),
            }),
            _ => holds::router(tickets, holds::SELL),
        };
        let event = CloudEvent::new("test", kind, "order", data).expect("event");
        let router = shared::routing::finish(router);
        testing::send(&router, testing::event_request(&event))
            .await
            .status()
            .as_u16()
    }
}

/// The data orders announces for an order of `quantity` tickets at 20.00 each.
pub fn order_data(kind: &str, order_id: &str, ticket_id: &str, quantity: i64) -> Value {
    if kind == types::ORDER_CREATED {
        json!({
            "id": order_id, "version": 0, "status": "created",
            "userId": uuid::Uuid::now_v7().to_string(),
            "expiresAt": shared::time::rfc3339(shared::time::now()),
            "quantity": quantity, "ticket": {"id": ticket_id, "price": 2000},
            "total": 2000 * quantity,
        })
    } else {
        json!({"id": order_id, "version": 1, "quantity": quantity, "ticket": {"id": ticket_id}})
    }
}
