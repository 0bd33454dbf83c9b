//! Timers against DynamoDB Local and NATS: armed by order events, fired by the sweep.

use axum::Router;
use contract::events::{
    OrderCreatedData, OrderEndedData, OrderExpiredData, OrderedTicket, TicketRef,
};
use contract::{Cents, OrderId, OrderStatus, Quantity, TicketId, UserId};
use expiration::store::{TimerState, Timers};
use expiration::{ExpirationState, OUTBOX, TABLES, sweep, timers};
use serde_json::{Value, json};
use shared::events::{CloudEvent, types};
use shared::testing::{self, TestStore};

struct TestApp {
    state: ExpirationState,
    store: TestStore,
}

impl TestApp {
    async fn start() -> Self {
        let store = TestStore::create(TABLES, &OUTBOX).await;
        let state = ExpirationState {
            timers: Timers::new(store.client(), store.prefix()),
            outbox: store.outbox.clone(),
        };
        Self { state, store }
    }

    async fn post(&self, router: Router, event: &CloudEvent) -> u16 {
        testing::deliver(router, event).await
    }

    async fn created(&self, order: &str, expires_at: &str) -> u16 {
        self.created_with(&created_data(order, expires_at)).await
    }

    /// `order.created` with exactly this data.
    async fn created_with(&self, data: &impl serde::Serialize) -> u16 {
        let event = CloudEvent::new("test", types::ORDER_CREATED, "order", data).expect("event");
        self.post(timers::arm_router(self.state.timers.clone()), &event)
            .await
    }

    async fn ended(&self, kind: &str, order: &str) -> u16 {
        self.ended_with(kind, &ended_data(order)).await
    }

    async fn ended_with(&self, kind: &str, data: &Value) -> u16 {
        let event = CloudEvent::new("test", kind, "order", data).expect("event");
        self.post(timers::disarm_router(self.state.timers.clone()), &event)
            .await
    }

    async fn state_of(&self, order: &str) -> TimerState {
        self.state
            .timers
            .state_of(order)
            .await
            .expect("read")
            .expect("armed once")
            .state
    }
}

/// What orders announces for a new order of one ticket at 1.00.
fn created_data(order: &str, expires_at: &str) -> OrderCreatedData {
    OrderCreatedData {
        id: OrderId::from(order),
        version: 0,
        status: OrderStatus::Created,
        user_id: UserId::new(uuid::Uuid::now_v7().to_string()),
        expires_at: expires_at.to_owned(),
        quantity: Quantity(1),
        ticket: OrderedTicket {
            id: TicketId::new(uuid::Uuid::now_v7().to_string()),
            price: Cents(100),
        },
        total: Cents(100),
    }
}

/// `order.cancelled` / `order.completed` of `order`, as JSON so that a test may break it.
fn ended_data(order: &str) -> Value {
    let data = OrderEndedData {
        id: OrderId::from(order),
        version: 1,
        quantity: Quantity(1),
        ticket: TicketRef {
            id: TicketId::new(uuid::Uuid::now_v7().to_string()),
        },
    };
    serde_json::to_value(data).expect("json")
}

fn at(unix: i64) -> String {
    shared::time::rfc3339(time::OffsetDateTime::from_unix_timestamp(unix).expect("time"))
}

#[tokio::test]
async fn the_sweep_announces_due_timers_once_and_leaves_the_others() {
    let app = TestApp::start().await;
    let now = shared::time::unix_now();
    let (due, later) = (
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    );
    assert_eq!(app.created(&due, &at(now - 1)).await, 204);
    assert_eq!(app.created(&later, &at(now + 600)).await, 204);

    assert_eq!(sweep::sweep(&app.state, now).await.expect("sweep"), 1);
    assert_eq!(
        sweep::sweep(&app.state, now).await.expect("sweep"),
        0,
        "fired once"
    );
    let expired = app.store.events.events(types::ORDER_EXPIRED).await;
    assert_eq!(expired.len(), 1);
    let expected = OrderExpiredData {
        order_id: OrderId::from(due.as_str()),
        expires_at: at(now - 1),
    };
    assert_eq!(
        expired[0].data,
        serde_json::to_value(expected).expect("json")
    );
    assert_eq!(app.state_of(&due).await, TimerState::Fired);
    assert_eq!(app.state_of(&later).await, TimerState::Armed);

    // The cancellation that follows the expiry finds the timer already fired.
    assert_eq!(app.ended(types::ORDER_CANCELLED, &due).await, 204);
    assert_eq!(sweep::sweep(&app.state, now + 601).await.expect("sweep"), 1);
}

#[tokio::test]
async fn a_paid_or_cancelled_order_never_expires_even_if_its_creation_comes_again() {
    let app = TestApp::start().await;
    let now = shared::time::unix_now();
    let order = uuid::Uuid::now_v7().to_string();
    assert_eq!(app.created(&order, &at(now + 5)).await, 204);
    assert_eq!(app.ended(types::ORDER_COMPLETED, &order).await, 204);
    assert_eq!(
        app.ended(types::ORDER_COMPLETED, &order).await,
        204,
        "a duplicate is fine"
    );
    assert_eq!(
        app.created(&order, &at(now + 5)).await,
        204,
        "a late duplicate does not re-arm"
    );
    assert_eq!(sweep::sweep(&app.state, now + 10).await.expect("sweep"), 0);
    assert_eq!(app.state_of(&order).await, TimerState::Disarmed);
    assert!(
        app.store
            .events
            .events(types::ORDER_EXPIRED)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn an_end_that_comes_before_the_creation_is_retried_later() {
    let app = TestApp::start().await;
    let order = uuid::Uuid::now_v7().to_string();
    assert_eq!(app.ended(types::ORDER_CANCELLED, &order).await, 409);
}

#[tokio::test]
async fn the_expire_function_answers_a_ping_with_what_it_fired() {
    let app = TestApp::start().await;
    let order = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        app.created(&order, &at(shared::time::unix_now() - 5)).await,
        204
    );
    let ping = CloudEvent::new(
        "nats-bridge",
        "dev.knative.sources.ping",
        "expire",
        &json!({}),
    )
    .expect("ping");
    let response = testing::send(
        &shared::routing::finish(sweep::router(app.state.clone())),
        testing::event_request(&ping),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(testing::json_body(response).await, json!({"expired": 1}));
}

#[tokio::test]
async fn an_order_the_contract_forbids_arms_no_timer() {
    let app = TestApp::start().await;
    let now = shared::time::unix_now();
    let order = uuid::Uuid::now_v7().to_string();
    // As JSON, so that each field can be set to what the type would never hold.
    let good = serde_json::to_value(created_data(&order, &at(now - 1))).expect("json");
    for (field, value) in [
        ("quantity", json!(-1000)),
        ("quantity", json!(0)),
        ("quantity", json!(11)),
        ("id", json!("order-1")),
        ("userId", json!("u")),
        ("ticket", json!({"id": "t", "price": 100})),
        (
            "ticket",
            json!({"id": uuid::Uuid::now_v7().to_string(), "price": -100}),
        ),
        ("total", json!(0)),
        ("version", json!(-1)),
        ("expiresAt", json!("soon")),
        ("expiresAt", json!("1960-01-01T00:00:00Z")),
        ("status", json!("complete")),
    ] {
        let mut data = good.clone();
        data[field] = value.clone();
        assert_eq!(app.created_with(&data).await, 400, "{field}: {value}");
    }
    assert!(
        app.state
            .timers
            .state_of(&order)
            .await
            .expect("read")
            .is_none(),
        "no timer was armed"
    );
    assert_eq!(
        sweep::sweep(&app.state, now).await.expect("sweep"),
        0,
        "nothing to fire"
    );

    // A disarm the contract forbids is refused too, not retried as if early.
    for (field, value) in [("id", json!("order-1")), ("quantity", json!(-1))] {
        let mut data = ended_data(&order);
        data[field] = value.clone();
        assert_eq!(
            app.ended_with(types::ORDER_CANCELLED, &data).await,
            400,
            "{field}: {value}"
        );
    }
}
