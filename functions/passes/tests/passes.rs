//! Passes against DynamoDB Local and NATS: issuing from the order events, listing, check-in and
//! the keys, each through the function's own router.

use axum::Router;
use contract::events::{
    OrderCreatedData, OrderEndedData, OrderExpiredData, OrderedTicket, TicketData, TicketRef, types,
};
use contract::passes::{PassCheckedInData, PassId, PassResaleVoidedData, types as pass_types};
use contract::{Cents, OrderId, OrderStatus, Quantity, TicketId, UserId};
use passes::codes::{PublicKeys, Signer};
use passes::store::{CheckIn, Passes};
use passes::{CheckinState, IssueState, ListState, OUTBOX, TABLES, check_in, issue, list_passes};
use serde_json::{Value, json};
use shared::events::CloudEvent;
use shared::testing::{self, TestStore};

struct TestApp {
    store: TestStore,
    signer: Signer,
    keys: PublicKeys,
}

impl TestApp {
    async fn start() -> Self {
        let store = TestStore::create(TABLES, &OUTBOX).await;
        let signer = Signer::from_seed("TEST-1", &[42; 32]).expect("signer");
        let keys = PublicKeys::parse(&format!("TEST-1={}", signer.public_key())).expect("keys");
        Self {
            store,
            signer,
            keys,
        }
    }

    fn passes(&self) -> Passes {
        Passes::new(self.store.client(), self.store.prefix())
    }

    fn issuer(&self) -> Router {
        issue::router(IssueState {
            passes: self.passes(),
            outbox: self.store.outbox.clone(),
            signer: self.signer.clone(),
        })
    }

    fn checkin_with(&self, passes: Passes) -> Router {
        shared::routing::finish(check_in::router(CheckinState {
            passes,
            outbox: self.store.outbox.clone(),
            sessions: self.store.sessions.clone(),
            keys: self.keys.clone(),
            gates: std::sync::Arc::default(),
        }))
    }

    fn checkin(&self) -> Router {
        self.checkin_with(self.passes())
    }

    fn lister(&self) -> Router {
        shared::routing::finish(list_passes::router(ListState {
            passes: self.passes(),
            sessions: self.store.sessions.clone(),
        }))
    }

    async fn deliver(
        &self,
        kind: &str,
        subject: &str,
        data: &impl contract::events::Payload,
    ) -> u16 {
        let event = CloudEvent::of("test", kind, subject, data).expect("event");
        testing::deliver(self.issuer(), &event).await
    }

    /// A listing by `organiser`, copied here at `version`.
    async fn listing(&self, id: &str, organiser: &str, title: &str, version: i64) -> u16 {
        let kind = if version == 0 {
            types::TICKET_CREATED
        } else {
            types::TICKET_UPDATED
        };
        let data = TicketData {
            id: TicketId::from(id),
            version,
            title: title.to_owned(),
            price: Cents(2000),
            quantity: Quantity(100),
            user_id: UserId::from(organiser),
            venue: None,
            starts_at: None,
            on_sale_at: None,
            queue_seed: None,
            resale_of: None,
        };
        self.deliver(kind, id, &data).await
    }

    async fn created(&self, order: &str, buyer: &str, ticket: &str, quantity: i64) -> u16 {
        let data = OrderCreatedData {
            id: OrderId::from(order),
            version: 0,
            status: OrderStatus::Created,
            user_id: UserId::from(buyer),
            expires_at: "2026-11-24T10:15:00Z".to_owned(),
            quantity: Quantity(quantity),
            ticket: OrderedTicket {
                id: TicketId::from(ticket),
                price: Cents(2000),
            },
            total: Cents(2000 * quantity),
        };
        self.deliver(types::ORDER_CREATED, order, &data).await
    }

    async fn ended(&self, kind: &str, order: &str, ticket: &str, quantity: i64) -> u16 {
        let data = OrderEndedData {
            id: OrderId::from(order),
            version: 1,
            quantity: Quantity(quantity),
            ticket: TicketRef {
                id: TicketId::from(ticket),
            },
        };
        self.deliver(kind, order, &data).await
    }

    /// A listing of `organiser`'s and a completed order of `buyer`'s for `quantity` of it: the
    /// order's and the listing's ids.
    async fn completed_order(
        &self,
        organiser: &str,
        buyer: &str,
        quantity: i64,
    ) -> (String, String) {
        let ticket = new_id();
        let order = new_id();
        assert_eq!(self.listing(&ticket, organiser, "Concert", 0).await, 204);
        assert_eq!(self.created(&order, buyer, &ticket, quantity).await, 204);
        assert_eq!(
            self.ended(types::ORDER_COMPLETED, &order, &ticket, quantity)
                .await,
            204
        );
        (order, ticket)
    }

    async fn list(&self, bearer: &str, order: &str) -> (u16, Value) {
        let response = testing::send(
            &self.lister(),
            testing::authed_empty("GET", &format!("/api/orders/{order}/passes"), bearer),
        )
        .await;
        (
            response.status().as_u16(),
            testing::json_body(response).await,
        )
    }

    /// The passes of an order, as its buyer sees them.
    async fn passes_of(&self, bearer: &str, order: &str) -> Vec<Value> {
        let (status, body) = self.list(bearer, order).await;
        assert_eq!(status, 200, "{body}");
        body.as_array().expect("an array").clone()
    }

    async fn scan(&self, router: &Router, bearer: &str, body: Value) -> (u16, Value) {
        let response = testing::send(
            router,
            testing::authed_json("POST", "/api/checkins", bearer, &body),
        )
        .await;
        (
            response.status().as_u16(),
            testing::json_body(response).await,
        )
    }
}

/// A `pass.checked-in` event of some pass, as check-in records it.
fn checked_in_event() -> CloudEvent {
    let data = PassCheckedInData {
        id: PassId::new(new_id()),
        order_id: OrderId::new(new_id()),
        ticket_id: TicketId::new(new_id()),
        checked_in_at: "2026-11-24T19:42:00Z".to_owned(),
    };
    CloudEvent::of("check-in", pass_types::PASS_CHECKED_IN, "p", &data).expect("event")
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn code_of(pass: &Value) -> String {
    pass["code"].as_str().expect("a code").to_owned()
}

#[tokio::test]
async fn a_completed_order_issues_one_pass_per_ticket_once_however_often_it_is_delivered() {
    let app = TestApp::start().await;
    let (organiser, _) = app.store.user("organiser");
    let (buyer, buyer_bearer) = app.store.user("buyer");
    let (order, ticket) = app.completed_order(&organiser, &buyer, 3).await;
    // The same event again, and the same change under a new event id: nothing more.
    assert_eq!(
        app.ended(types::ORDER_COMPLETED, &order, &ticket, 3).await,
        204
    );

    let passes = app.passes_of(&buyer_bearer, &order).await;
    assert_eq!(passes.len(), 3);
    for (index, pass) in passes.iter().enumerate() {
        let seat = index as i64 + 1;
        assert_eq!(pass["seat"], seat);
        assert_eq!(pass["of"], 3);
        assert_eq!(pass["orderId"], order.as_str());
        assert_eq!(pass["ticketId"], ticket.as_str());
        assert_eq!(pass["title"], "Concert");
        assert_eq!(pass["venue"], Value::Null);
        assert_eq!(pass["startsAt"], Value::Null);
        assert_eq!(pass["status"], "valid");
        assert_eq!(pass["checkedInAt"], Value::Null);
        let code = code_of(pass);
        assert!(code.len() <= 200, "{code}");
        let named = app.keys.verify(&code).expect("the code verifies");
        assert_eq!(
            named.hyphenated().to_string(),
            pass["id"].as_str().expect("id")
        );
    }
    let issued = app.store.events.events(pass_types::PASS_ISSUED).await;
    assert_eq!(issued.len(), 3, "one event per pass, not per delivery");
    assert!(issued.iter().all(|e| e.data["orderId"] == order.as_str()));
}

#[tokio::test]
async fn an_order_completed_before_it_was_copied_is_retried_later() {
    let app = TestApp::start().await;
    let (organiser, _) = app.store.user("organiser");
    let (buyer, buyer_bearer) = app.store.user("buyer");
    let ticket = new_id();
    let order = new_id();
    assert_eq!(app.listing(&ticket, &organiser, "Concert", 0).await, 204);
    assert_eq!(
        app.ended(types::ORDER_COMPLETED, &order, &ticket, 2).await,
        409
    );
    assert_eq!(
        app.ended(types::ORDER_CANCELLED, &order, &ticket, 2).await,
        409
    );
    assert_eq!(app.created(&order, &buyer, &ticket, 2).await, 204);
    assert_eq!(
        app.passes_of(&buyer_bearer, &order).await,
        Vec::<Value>::new()
    );
    assert_eq!(
        app.ended(types::ORDER_COMPLETED, &order, &ticket, 2).await,
        204
    );
    assert_eq!(app.passes_of(&buyer_bearer, &order).await.len(), 2);
}

#[tokio::test]
async fn an_order_whose_listing_is_not_copied_yet_is_retried_later() {
    let app = TestApp::start().await;
    let (organiser, _) = app.store.user("organiser");
    let (buyer, buyer_bearer) = app.store.user("buyer");
    let ticket = new_id();
    let order = new_id();
    assert_eq!(app.created(&order, &buyer, &ticket, 1).await, 204);
    assert_eq!(
        app.ended(types::ORDER_COMPLETED, &order, &ticket, 1).await,
        409
    );
    assert_eq!(app.listing(&ticket, &organiser, "Concert", 0).await, 204);
    assert_eq!(
        app.ended(types::ORDER_COMPLETED, &order, &ticket, 1).await,
        204
    );
    assert_eq!(app.passes_of(&buyer_bearer, &order).await.len(), 1);
}

#[tokio::test]
async fn passes_show_the_listing_s_latest_version_and_an_older_one_changes_nothing() {
    let app = TestApp::start().await;
    let (organiser, _) = app.store.user("organiser");
    let (buyer, buyer_bearer) = app.store.user("buyer");
    let (order, ticket) = app.completed_order(&organiser, &buyer, 1).await;
    assert_eq!(
        app.listing(&ticket, &organiser, "Concert (late show)", 2)
            .await,
        204
    );
    assert_eq!(app.listing(&ticket, &organiser, "Concert v1", 1).await, 204);
    let passes = app.passes_of(&buyer_bearer, &order).await;
    assert_eq!(passes[0]["title"], "Concert (late show)");
}

#[tokio::test]
async fn passes_show_the_venue_and_start_their_listing_announces() {
    let app = TestApp::start().await;
    let (organiser, _) = app.store.user("organiser");
    let (buyer, buyer_bearer) = app.store.user("buyer");
    let (order, ticket) = app.completed_order(&organiser, &buyer, 1).await;
    let data = TicketData {
        id: TicketId::from(ticket.as_str()),
        version: 1,
        title: "Concert".to_owned(),
        price: Cents(2000),
        quantity: Quantity(100),
        user_id: UserId::from(organiser.as_str()),
        venue: Some("Paradiso".to_owned()),
        starts_at: Some("2027-03-01T20:00:00Z".to_owned()),
        on_sale_at: None,
        queue_seed: None,
        resale_of: None,
    };
    assert_eq!(
        app.deliver(types::TICKET_UPDATED, &ticket, &data).await,
        204
    );
    let passes = app.passes_of(&buyer_bearer, &order).await;
    assert_eq!(passes[0]["venue"], "Paradiso");
    assert_eq!(passes[0]["startsAt"], "2027-03-01T20:00:00Z");
}

#[tokio::test]
async fn only_the_buyer_sees_an_order_s_passes_and_unknown_orders_are_not_found() {
    let app = TestApp::start().await;
    let (organiser, organiser_bearer) = app.store.user("organiser");
    let (buyer, buyer_bearer) = app.store.user("buyer");
    let ticket = new_id();
    let open = new_id();
    assert_eq!(app.listing(&ticket, &organiser, "Concert", 0).await, 204);
    assert_eq!(app.created(&open, &buyer, &ticket, 1).await, 204);
    assert_eq!(app.list(&buyer_bearer, &open).await, (200, json!([])));

    let (status, body) = app.list(&organiser_bearer, &open).await;
    assert_eq!(
        (status, body),
        (403, json!({"errors": [{"message": "Forbidden"}]}))
    );
    for unknown in [new_id(), "not-an-id".to_owned()] {
        let (status, body) = app.list(&buyer_bearer, &unknown).await;
        assert_eq!(
            (status, body),
            (404, json!({"errors": [{"message": "Not Found"}]}))
        );
    }
    let response = testing::send(
        &app.lister(),
        testing::empty_request("GET", &format!("/api/orders/{open}/passes")),
    )
    .await;
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn of_fifty_simultaneous_scans_of_one_pass_exactly_one_checks_it_in() {
    let app = TestApp::start().await;
    let (organiser, organiser_bearer) = app.store.user("organiser");
    let (buyer, buyer_bearer) = app.store.user("buyer");
    let (order, _) = app.completed_order(&organiser, &buyer, 1).await;
    let pass = app.passes_of(&buyer_bearer, &order).await.remove(0);
    let code = code_of(&pass);

    // Five instances of the function (each with its own queue of scans), ten scans each.
    let instances: Vec<Router> = (0..5).map(|_| app.checkin()).collect();
    let scans: Vec<_> = (0..50)
        .map(|n| {
            let router = instances[n % instances.len()].clone();
            let request = testing::authed_json(
                "POST",
                "/api/checkins",
                &organiser_bearer,
                &json!({"code": code}),
            );
            tokio::spawn(async move {
                let response = testing::send(&router, request).await;
                (
                    response.status().as_u16(),
                    testing::json_body(response).await,
                )
            })
        })
        .collect();
    let mut answers = Vec::new();
    for scan in futures::future::join_all(scans).await {
        answers.push(scan.expect("the scan ran"));
    }
    let winners: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    let losers: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 409)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    assert_eq!(losers.len(), 49, "{answers:?}");
    let at = winners[0]["checkedInAt"].clone();
    assert_eq!(winners[0]["pass"]["status"], "checked-in");
    assert_eq!(winners[0]["pass"]["checkedInAt"], at);
    assert_eq!(winners[0]["pass"]["id"], pass["id"]);
    for loser in losers {
        assert_eq!(loser["errors"], json!([{"message": "Already checked in"}]));
        assert_eq!(loser["checkedInAt"], at);
        assert_eq!(loser["pass"]["status"], "checked-in");
    }
    assert_eq!(
        app.store
            .events
            .events(pass_types::PASS_CHECKED_IN)
            .await
            .len(),
        1
    );
    let shown = app.passes_of(&buyer_bearer, &order).await.remove(0);
    assert_eq!(shown["status"], "checked-in");
    assert_eq!(shown["checkedInAt"], at);
}

#[tokio::test]
async fn a_retried_scan_with_its_nonce_replays_its_first_answer() {
    let app = TestApp::start().await;
    let (organiser, organiser_bearer) = app.store.user("organiser");
    let (buyer, buyer_bearer) = app.store.user("buyer");
    let (order, _) = app.completed_order(&organiser, &buyer, 2).await;
    let passes = app.passes_of(&buyer_bearer, &order).await;
    let router = app.checkin();

    let first = app
        .scan(
            &router,
            &organiser_bearer,
            json!({"code": code_of(&passes[0]), "nonce": "scan-1"}),
        )
        .await;
    assert_eq!(first.0, 200, "{}", first.1);
    let again = app
        .scan(
            &router,
            &organiser_bearer,
            json!({"code": code_of(&passes[0]), "nonce": "scan-1"}),
        )
        .await;
    assert_eq!(again, first, "the same answer, body and all");
    let other = app
        .scan(
            &router,
            &organiser_bearer,
            json!({"code": code_of(&passes[0]), "nonce": "scan-2"}),
        )
        .await;
    assert_eq!(other.0, 409);
    assert_eq!(other.1["checkedInAt"], first.1["checkedInAt"]);
    let plain = app
        .scan(
            &router,
            &organiser_bearer,
            json!({"code": code_of(&passes[0])}),
        )
        .await;
    assert_eq!(plain.0, 409);
    // A nonce names one scan of one pass: the other pass's first scan with it is its own.
    let second = app
        .scan(
            &router,
            &organiser_bearer,
            json!({"code": code_of(&passes[1]), "nonce": "scan-1"}),
        )
        .await;
    assert_eq!(second.0, 200);
    assert_eq!(second.1["pass"]["seat"], 2);
}

#[tokio::test]
async fn a_forged_or_malformed_code_is_refused_before_any_lookup() {
    let app = TestApp::start().await;
    let (_, bearer) = app.store.user("organiser");
    // Every lookup would fail with 503 here: a 400 proves none was made.
    let blind = app.checkin_with(Passes::new(
        testing::unreachable_client().await,
        app.store.prefix(),
    ));
    let forger = Signer::from_seed("TEST-1", &[7; 32]).expect("forger");
    let genuine = app.signer.code(&uuid::Uuid::now_v7());
    let invalid = json!({"errors": [{"message": "Invalid code", "field": "code"}]});
    for body in [
        json!({"code": forger.code(&uuid::Uuid::now_v7())}),
        json!({"code": genuine.replacen("TEST-1:", "TEST-2:", 1)}),
        json!({"code": format!("{}A", &genuine[..genuine.len() - 1])}),
        json!({"code": "hello"}),
        json!({"code": 42}),
        json!({}),
    ] {
        assert_eq!(
            app.scan(&blind, &bearer, body.clone()).await,
            (400, invalid.clone()),
            "{body}"
        );
    }
    let (status, body) = app
        .scan(&blind, &bearer, json!({"code": "nope", "nonce": ""}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"errors": [
            {"message": "Invalid code", "field": "code"},
            {"message": "Nonce must be 1 to 128 characters", "field": "nonce"},
        ]})
    );
    // A genuine code does go to the table, which is away.
    assert_eq!(
        app.scan(&blind, &bearer, json!({"code": genuine})).await.0,
        503
    );
    // And without a session nothing is looked at either.
    let response = testing::send(
        &blind,
        testing::json_request("POST", "/api/checkins", &json!({"code": "x"})),
    )
    .await;
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn only_the_organiser_checks_a_pass_in_and_an_unknown_pass_is_not_found() {
    let app = TestApp::start().await;
    let (organiser, _) = app.store.user("organiser");
    let (buyer, buyer_bearer) = app.store.user("buyer");
    let (order, _) = app.completed_order(&organiser, &buyer, 1).await;
    let pass = app.passes_of(&buyer_bearer, &order).await.remove(0);
    let router = app.checkin();
    let (status, body) = app
        .scan(&router, &buyer_bearer, json!({"code": code_of(&pass)}))
        .await;
    assert_eq!(
        (status, body),
        (403, json!({"errors": [{"message": "Forbidden"}]}))
    );
    assert_eq!(
        app.passes_of(&buyer_bearer, &order).await[0]["status"],
        "valid"
    );

    let never_issued = app.signer.code(&uuid::Uuid::now_v7());
    let (status, _) = app
        .scan(&router, &buyer_bearer, json!({"code": never_issued}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_cancelled_order_s_passes_are_revoked_and_refused_at_the_door() {
    let app = TestApp::start().await;
    let (organiser, organiser_bearer) = app.store.user("organiser");
    let (buyer, buyer_bearer) = app.store.user("buyer");
    let (order, ticket) = app.completed_order(&organiser, &buyer, 3).await;
    let passes = app.passes_of(&buyer_bearer, &order).await;
    let router = app.checkin();
    // One is already inside: it stays checked in.
    assert_eq!(
        app.scan(
            &router,
            &organiser_bearer,
            json!({"code": code_of(&passes[0])})
        )
        .await
        .0,
        200
    );

    assert_eq!(
        app.ended(types::ORDER_CANCELLED, &order, &ticket, 3).await,
        204
    );
    assert_eq!(
        app.ended(types::ORDER_CANCELLED, &order, &ticket, 3).await,
        204
    );
    let after = app.passes_of(&buyer_bearer, &order).await;
    let statuses: Vec<&Value> = after.iter().map(|p| &p["status"]).collect();
    assert_eq!(
        statuses,
        [&json!("checked-in"), &json!("revoked"), &json!("revoked")]
    );
    assert_eq!(
        app.store
            .events
            .events(pass_types::PASS_REVOKED)
            .await
            .len(),
        2
    );

    let (status, body) = app
        .scan(
            &router,
            &organiser_bearer,
            json!({"code": code_of(&passes[1]), "nonce": "n"}),
        )
        .await;
    assert_eq!(
        (status, body),
        (410, json!({"errors": [{"message": "Pass revoked"}]}))
    );
    // A completion delivered late issues nothing for a cancelled order.
    assert_eq!(
        app.ended(types::ORDER_COMPLETED, &order, &ticket, 3).await,
        204
    );
    assert_eq!(
        app.store.events.events(pass_types::PASS_ISSUED).await.len(),
        3
    );
    assert_eq!(
        app.passes_of(&buyer_bearer, &order).await[1]["status"],
        "revoked"
    );
}

#[tokio::test]
async fn an_order_cancelled_before_it_completed_has_no_passes() {
    let app = TestApp::start().await;
    let (organiser, _) = app.store.user("organiser");
    let (buyer, buyer_bearer) = app.store.user("buyer");
    let ticket = new_id();
    let order = new_id();
    assert_eq!(app.listing(&ticket, &organiser, "Concert", 0).await, 204);
    assert_eq!(app.created(&order, &buyer, &ticket, 2).await, 204);
    assert_eq!(
        app.ended(types::ORDER_CANCELLED, &order, &ticket, 2).await,
        204
    );
    assert_eq!(
        app.ended(types::ORDER_COMPLETED, &order, &ticket, 2).await,
        204
    );
    assert_eq!(
        app.passes_of(&buyer_bearer, &order).await,
        Vec::<Value>::new()
    );
    assert!(
        app.store
            .events
            .events(pass_types::PASS_ISSUED)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn the_keys_endpoint_publishes_every_accepted_key() {
    let app = TestApp::start().await;
    let response = testing::send(
        &app.checkin(),
        testing::empty_request("GET", "/api/passes/keys"),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        testing::json_body(response).await,
        json!({"keys": [{"kid": "TEST-1", "publicKey": app.signer.public_key()}]})
    );
}

#[tokio::test]
async fn events_of_other_types_or_broken_data_are_refused_for_good() {
    let app = TestApp::start().await;
    let data = OrderExpiredData {
        order_id: OrderId::new(new_id()),
        expires_at: "2026-11-24T10:15:00Z".to_owned(),
    };
    let expired = CloudEvent::of("test", types::ORDER_EXPIRED, "x", &data).expect("event");
    assert_eq!(testing::deliver(app.issuer(), &expired).await, 400);
    let broken = CloudEvent::new(
        "test",
        types::ORDER_COMPLETED,
        "x",
        &json!({"id": "not-an-id", "version": 1, "quantity": 2, "ticket": {"id": new_id()}}),
    )
    .expect("event");
    assert_eq!(testing::deliver(app.issuer(), &broken).await, 400);
}

#[tokio::test]
async fn the_write_not_the_read_decides_between_scans_that_all_read_the_pass_valid() {
    let app = TestApp::start().await;
    let (organiser, _) = app.store.user("organiser");
    let (buyer, buyer_bearer) = app.store.user("buyer");
    let (order, _) = app.completed_order(&organiser, &buyer, 1).await;
    let id = app.passes_of(&buyer_bearer, &order).await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let store = app.passes();
    // Every scan holds the same read of the pass, taken while it was valid, and none is queued
    // behind another (no gate): only the condition can tell them apart. Ten, not fifty: DynamoDB
    // Local runs one item's transactions one at a time, and fifty outlast the client's 5 s
    // deadline on a busy machine (which is why `check-in` queues an instance's scans of a pass).
    let read = store.pass(&id).await.expect("read").expect("the pass");
    let by = UserId::from(organiser.as_str());
    let scans: Vec<_> = (0..10)
        .map(|n| {
            let (store, read, by) = (store.clone(), read.clone(), by.clone());
            let outbox = app.store.outbox.clone();
            tokio::spawn(async move {
                let event = checked_in_event();
                let nonce = format!("scan-{n}");
                let answer = Some((nonce.as_str(), 200, format!("{{\"scan\":{n}}}")));
                store
                    .check_in(
                        &read,
                        "2026-11-24T19:42:00Z",
                        &by,
                        answer,
                        outbox.record(&event).expect("record"),
                    )
                    .await
                    .expect("decided")
            })
        })
        .collect();
    let mut won = Vec::new();
    let mut refused = 0;
    for (n, outcome) in futures::future::join_all(scans)
        .await
        .into_iter()
        .enumerate()
    {
        match outcome.expect("ran") {
            CheckIn::CheckedIn => won.push(n),
            CheckIn::NotValid(pass) => {
                assert_eq!(pass.checked_in_at.as_deref(), Some("2026-11-24T19:42:00Z"));
                refused += 1;
            }
            other => panic!("scan {n}: {other:?}"),
        }
    }
    assert_eq!((won.len(), refused), (1, 9));
    // The winner's nonce finds its answer, also through the write (its read still says valid).
    let event = checked_in_event();
    let nonce = format!("scan-{}", won[0]);
    let again = store
        .check_in(
            &read,
            "2026-11-24T19:43:00Z",
            &by,
            Some((nonce.as_str(), 200, "{}".to_owned())),
            app.store.outbox.record(&event).expect("record"),
        )
        .await
        .expect("decided");
    match again {
        CheckIn::Replay(answer) => {
            assert_eq!(answer.status, 200);
            assert_eq!(answer.body, format!("{{\"scan\":{}}}", won[0]));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn relay_passes_publishes_what_was_left_in_the_outbox() {
    let app = TestApp::start().await;
    let event = checked_in_event();
    // Committed, never published: as if the function died between the two.
    let record = app.store.outbox.record(&event).expect("record");
    app.store
        .client()
        .transact_write_items()
        .transact_items(record)
        .send()
        .await
        .expect("commit");
    // The relay leaves records younger than its grace to the function that wrote them.
    tokio::time::sleep(shared::outbox::RELAY_GRACE + std::time::Duration::from_secs(1)).await;
    let relay = shared::routing::finish(shared::outbox::relay_router(app.store.outbox.clone()));
    let response = testing::send(&relay, testing::json_request("POST", "/", &json!({}))).await;
    assert_eq!(testing::json_body(response).await, json!({"relayed": 1}));
    let published = app.store.events.events(pass_types::PASS_CHECKED_IN).await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].id, event.id);
}

/// `seller`'s resale listing of `pass` (bought from `original`), copied here.
async fn resale_listing(app: &TestApp, seller: &str, pass: &str) -> String {
    let ticket = new_id();
    let data = TicketData {
        id: TicketId::from(ticket.as_str()),
        version: 0,
        title: "Concert".to_owned(),
        price: Cents(1500),
        quantity: Quantity(1),
        user_id: UserId::from(seller),
        venue: None,
        starts_at: None,
        on_sale_at: None,
        queue_seed: None,
        resale_of: Some(contract::passes::PassId::from(pass)),
    };
    assert_eq!(
        app.deliver(types::TICKET_CREATED, &ticket, &data).await,
        204
    );
    ticket
}

#[tokio::test]
async fn a_sold_resale_revokes_the_old_pass_and_issues_the_buyer_a_new_one_the_organiser_checks_in()
{
    let app = TestApp::start().await;
    let (organiser, organiser_bearer) = app.store.user("organiser");
    let (holder, holder_bearer) = app.store.user("holder");
    let (buyer, buyer_bearer) = app.store.user("buyer");
    let (order, _) = app.completed_order(&organiser, &holder, 1).await;
    let old = app.passes_of(&holder_bearer, &order).await.remove(0);
    let issued = app.store.events.events(pass_types::PASS_ISSUED).await;
    assert_eq!(issued[0].data["price"], 2000, "the price paid travels");

    let resale = resale_listing(&app, &holder, old["id"].as_str().expect("id")).await;
    let resale_order = new_id();
    assert_eq!(app.created(&resale_order, &buyer, &resale, 1).await, 204);
    assert_eq!(
        app.ended(types::ORDER_COMPLETED, &resale_order, &resale, 1)
            .await,
        204
    );

    let new = app.passes_of(&buyer_bearer, &resale_order).await;
    assert_eq!(new.len(), 1);
    assert_eq!(new[0]["status"], "valid");
    assert_ne!(new[0]["code"], old["code"]);
    let old_now = app.passes_of(&holder_bearer, &order).await;
    assert_eq!(old_now[0]["status"], "revoked");
    let revoked = app.store.events.events(pass_types::PASS_REVOKED).await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].data["id"], old["id"]);

    let router = app.checkin();
    let (status, body) = app
        .scan(&router, &organiser_bearer, json!({"code": code_of(&old)}))
        .await;
    assert_eq!(status, 410);
    assert_eq!(body, json!({"errors": [{"message": "Pass revoked"}]}));
    let (status, _) = app
        .scan(&router, &holder_bearer, json!({"code": code_of(&new[0])}))
        .await;
    assert_eq!(status, 403, "the reseller is not the organiser");
    let (status, _) = app
        .scan(
            &router,
            &organiser_bearer,
            json!({"code": code_of(&new[0])}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_resale_paid_after_the_old_pass_was_checked_in_issues_nothing_and_voids_the_sale_once() {
    let app = TestApp::start().await;
    let (organiser, organiser_bearer) = app.store.user("organiser");
    let (holder, holder_bearer) = app.store.user("holder");
    let (buyer, buyer_bearer) = app.store.user("buyer");
    let (order, _) = app.completed_order(&organiser, &holder, 1).await;
    let old = app.passes_of(&holder_bearer, &order).await.remove(0);
    let resale = resale_listing(&app, &holder, old["id"].as_str().expect("id")).await;
    let resale_order = new_id();
    assert_eq!(app.created(&resale_order, &buyer, &resale, 1).await, 204);
    let (status, _) = app
        .scan(
            &app.checkin(),
            &organiser_bearer,
            json!({"code": code_of(&old)}),
        )
        .await;
    assert_eq!(status, 200);

    assert_eq!(
        app.ended(types::ORDER_COMPLETED, &resale_order, &resale, 1)
            .await,
        204
    );
    assert_eq!(
        app.ended(types::ORDER_COMPLETED, &resale_order, &resale, 1)
            .await,
        204
    );
    let (status, body) = app.list(&buyer_bearer, &resale_order).await;
    assert_eq!(status, 409);
    assert_eq!(
        body,
        json!({"errors": [{"message":
            "The resold ticket was used before this order was paid: no pass was issued, and the payment is refunded"}]})
    );
    assert_eq!(
        app.passes_of(&holder_bearer, &order).await[0]["status"],
        "checked-in"
    );
    assert_eq!(
        app.store.events.events(pass_types::PASS_ISSUED).await.len(),
        1
    );
    let voided = app
        .store
        .events
        .events(pass_types::PASS_RESALE_VOIDED)
        .await;
    assert_eq!(
        voided.len(),
        1,
        "announced once, however often it completes"
    );
    let expected = PassResaleVoidedData {
        order_id: OrderId::from(resale_order.as_str()),
        ticket_id: TicketId::from(resale.as_str()),
        pass_id: PassId::from(old["id"].as_str().expect("id")),
    };
    assert_eq!(
        voided[0].data,
        serde_json::to_value(expected).expect("json")
    );
}
