//! A tickets context on the real DynamoDB Local and NATS, isolated per test.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::Response;
use contract::api::{Entered, TicketRequest};
use contract::events::{
    OrderCreatedData, OrderEndedData, OrderedTicket, TicketData, TicketRef, types,
};
use contract::{Cents, OrderId, OrderStatus, Quantity, TicketId, UserId};
use serde_json::Value;
use shared::events::CloudEvent;
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
                &serde_json::to_value(TicketRequest {
                    title: title.to_owned(),
                    price: Entered::Number(20),
                    quantity: Some(Entered::Number(quantity.try_into().expect("a count"))),
                    venue: None,
                    starts_at: None,
                    on_sale_at: None,
                })
                .expect("json"),
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

/// The data orders announces for an order of `quantity` tickets at 20.00 each, as JSON so that a
/// test may break it.
pub fn order_data(kind: &str, order_id: &str, ticket_id: &str, quantity: i64) -> Value {
    let data = if kind == types::ORDER_CREATED {
        serde_json::to_value(OrderCreatedData {
            id: OrderId::from(order_id),
            version: 0,
            status: OrderStatus::Created,
            user_id: UserId::new(uuid::Uuid::now_v7().to_string()),
            expires_at: shared::time::rfc3339(shared::time::now()),
            quantity: Quantity(quantity),
            ticket: OrderedTicket {
                id: TicketId::from(ticket_id),
                price: Cents(2000),
            },
            total: Cents(2000 * quantity),
        })
    } else {
        serde_json::to_value(OrderEndedData {
            id: OrderId::from(order_id),
            version: 1,
            quantity: Quantity(quantity),
            ticket: TicketRef {
                id: TicketId::from(ticket_id),
            },
        })
    };
    data.expect("json")
}

/// The terms of a listing without event details at `version`, as `ticket.created` /
/// `ticket.updated` should announce them.
pub fn ticket_data(
    id: &str,
    seller: &str,
    version: i64,
    title: &str,
    price: i64,
    quantity: i64,
) -> TicketData {
    TicketData {
        id: TicketId::from(id),
        version,
        title: title.to_owned(),
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
