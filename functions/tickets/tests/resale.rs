//! Resale of passes against DynamoDB Local and NATS: `resell-pass` on this context's copy of
//! passes, and `track-passes` taking a resale listing off sale when its pass is used first.

mod support;

use contract::passes::{
    PassCheckedInData, PassId, PassIssuedData, PassRevokedData, types as pass_types,
};
use contract::{Cents, OrderId, TicketId, UserId};
use serde_json::{Value, json};
use shared::events::{CloudEvent, types};
use shared::testing::{self, authed_json, json_body};
use support::TestApp;
use tickets::resale::{TrackState, track_router};

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

struct Resale {
    app: TestApp,
}

impl Resale {
    async fn start() -> Self {
        Self {
            app: TestApp::start().await,
        }
    }

    async fn track(&self, kind: &str, data: &impl contract::events::Payload) -> u16 {
        let router = track_router(TrackState {
            tickets: self.app.state.tickets.clone(),
            outbox: self.app.state.outbox.clone(),
        });
        let event = CloudEvent::of("test", kind, "pass", data).expect("event");
        testing::deliver(router, &event).await
    }

    /// A pass of `holder`'s, bought from `ticket` at `cents`, copied here: its id.
    async fn issued(&self, holder: &str, ticket: &str, cents: i64) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let data = PassIssuedData {
            id: PassId::new(id.clone()),
            order_id: OrderId::new(new_id()),
            ticket_id: TicketId::from(ticket),
            user_id: UserId::from(holder),
            seat: 1,
            of: 1,
            price: Some(Cents(cents)),
        };
        assert_eq!(self.track(pass_types::PASS_ISSUED, &data).await, 204);
        id
    }

    /// A new holder's pass, bought at 20.00 from a new organiser's listing: the holder's bearer
    /// and the pass.
    async fn holder_with_pass(&self) -> (String, String) {
        let (_, organiser) = self.app.user("organiser");
        let (holder, bearer) = self.app.user("holder");
        let ticket = self.app.list(&organiser, "Concert", 5).await;
        let pass = self
            .issued(&holder, ticket["id"].as_str().expect("id"), 2000)
            .await;
        (bearer, pass)
    }

    /// Lists `pass` for resale at `price`, which must succeed: the listing's id.
    async fn listed(&self, bearer: &str, pass: &str, price: Value) -> String {
        let (status, listing) = self.resell(bearer, pass, price).await;
        assert_eq!(status, 201, "{listing}");
        listing["id"].as_str().expect("id").to_owned()
    }

    /// Delivers the order event `kind` of `order`, for the one ticket of `listing`.
    async fn order(&self, kind: &str, order: &str, listing: &str) -> u16 {
        self.app.order_event(kind, order, listing, 1).await
    }

    /// The `ticket.created` events announced so far.
    async fn creations(&self) -> Vec<CloudEvent> {
        self.app.store.events.events(types::TICKET_CREATED).await
    }

    /// The `ticket.updated` events announced so far.
    async fn updates(&self) -> Vec<CloudEvent> {
        self.app.store.events.events(types::TICKET_UPDATED).await
    }

    async fn checked_in(&self, pass: &str) -> u16 {
        let data = PassCheckedInData {
            id: PassId::from(pass),
            order_id: OrderId::new(new_id()),
            ticket_id: TicketId::new(new_id()),
            checked_in_at: "2026-11-24T19:42:00Z".to_owned(),
        };
        self.track(pass_types::PASS_CHECKED_IN, &data).await
    }

    async fn resell(&self, bearer: &str, pass: &str, price: Value) -> (u16, Value) {
        let router = shared::routing::finish(tickets::resale::router(self.app.state.clone()));
        let response = testing::send(
            &router,
            authed_json(
                "POST",
                &format!("/api/passes/{pass}/resale"),
                bearer,
                &json!({"price": price}),
            ),
        )
        .await;
        (response.status().as_u16(), json_body(response).await)
    }
}

#[tokio::test]
async fn the_holder_lists_a_pass_once_at_most_at_its_price_with_the_event_s_details() {
    let resale = Resale::start().await;
    let (_, organiser) = resale.app.user("organiser");
    let (holder, bearer) = resale.app.user("holder");
    let original = resale
        .app
        .send(authed_json(
            "POST",
            "/api/tickets",
            &organiser,
            &json!({"title": "Concert", "price": 20, "quantity": 10, "venue": "Paradiso",
                    "startsAt": "2027-03-01T20:00:00Z"}),
        ))
        .await;
    let original = json_body(original).await;
    let ticket = original["id"].as_str().expect("id");
    let pass = resale.issued(&holder, ticket, 2000).await;

    let (status, body) = resale.resell(&bearer, &pass, json!(20.01)).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"errors": [{"field": "price",
            "message": "Resale price must be at most the original price"}]})
    );

    let (status, listing) = resale.resell(&bearer, &pass, json!("18.50")).await;
    assert_eq!(status, 201, "{listing}");
    assert_eq!(listing["quantity"], 1);
    assert_eq!(listing["price"], json!(18.5));
    assert_eq!(listing["resaleOf"], pass.as_str());
    assert_eq!(listing["userId"], holder.as_str());
    assert_eq!(listing["title"], "Concert");
    assert_eq!(listing["venue"], "Paradiso");
    assert_eq!(listing["startsAt"], "2027-03-01T20:00:00Z");
    let created = resale.creations().await;
    let announced = created
        .iter()
        .find(|e| e.data["id"] == listing["id"])
        .expect("announced");
    assert_eq!(announced.data["resaleOf"], pass.as_str());
    assert_eq!(announced.source, "/ticketing/resell-pass");

    // A retry lists nothing new: it gets the live listing.
    let (status, again) = resale.resell(&bearer, &pass, json!(18.5)).await;
    assert_eq!(status, 200);
    assert_eq!(again, listing);
    assert_eq!(resale.creations().await.len(), 2);
}

#[tokio::test]
async fn only_the_holder_of_a_valid_known_pass_resells_it() {
    let resale = Resale::start().await;
    let (bearer, pass) = resale.holder_with_pass().await;
    let (_, stranger) = resale.app.user("stranger");
    let (status, _) = resale.resell(&stranger, &pass, json!(10)).await;
    assert_eq!(status, 403);
    let (status, _) = resale.resell(&bearer, &new_id(), json!(10)).await;
    assert_eq!(status, 404);
    let (status, _) = resale.resell(&bearer, &pass, json!(0)).await;
    assert_eq!(status, 400);

    assert_eq!(resale.checked_in(&pass).await, 204);
    let (status, body) = resale.resell(&bearer, &pass, json!(10)).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"errors": [{"message": "Only a valid pass can be resold"}]})
    );
}

#[tokio::test]
async fn checking_the_old_pass_in_takes_its_resale_listing_off_sale() {
    let resale = Resale::start().await;
    let (bearer, pass) = resale.holder_with_pass().await;
    let id = resale.listed(&bearer, &pass, json!(15)).await;

    assert_eq!(resale.checked_in(&pass).await, 204);
    let shown = resale.app.show(&id).await;
    assert_eq!(shown["available"], 0);
    assert_eq!(shown["quantity"], 0);
    let updates = resale.updates().await;
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].data["quantity"], 0);
    assert_eq!(updates[0].source, "/ticketing/track-passes");
    // Delivered again, it changes nothing.
    assert_eq!(resale.checked_in(&pass).await, 204);
    assert_eq!(resale.updates().await.len(), 1);
}

#[tokio::test]
async fn a_resale_listing_held_when_its_pass_is_checked_in_is_withdrawn_when_the_hold_is_released()
{
    let resale = Resale::start().await;
    let (bearer, pass) = resale.holder_with_pass().await;
    let id = resale.listed(&bearer, &pass, json!(15)).await;
    let order = new_id();
    assert_eq!(resale.order(types::ORDER_CREATED, &order, &id).await, 204);

    // Recorded on the listing, not left to a redelivery that ends long before the hold may.
    assert_eq!(resale.checked_in(&pass).await, 204, "no retry needed");
    assert!(
        resale.updates().await.is_empty(),
        "still held: nothing withdrawn yet"
    );

    // The buyer does not pay: the release takes the listing off sale with it.
    assert_eq!(resale.order(types::ORDER_CANCELLED, &order, &id).await, 204);
    let shown = resale.app.show(&id).await;
    assert_eq!(shown["available"], 0);
    assert_eq!(shown["quantity"], 0);
    let stored = resale
        .app
        .state
        .tickets
        .get(&id)
        .await
        .expect("read")
        .expect("listing");
    assert!(stored.withdrawn_at.is_some());
    let announced = resale.updates().await;
    assert_eq!(announced.len(), 1);
    assert_eq!(announced[0].source, "/ticketing/release-tickets");
    assert_eq!(announced[0].data["id"], id);
    // What the orders replica sells from: nothing left.
    assert_eq!(announced[0].data["quantity"], 0);

    // Delivered again, neither event changes anything.
    assert_eq!(resale.order(types::ORDER_CANCELLED, &order, &id).await, 204);
    assert_eq!(resale.checked_in(&pass).await, 204);
    assert_eq!(resale.updates().await.len(), 1);

    // An order placed before the cut reached the orders replica counts, and its end does not put
    // the listing back on sale.
    let later = new_id();
    assert_eq!(resale.order(types::ORDER_CREATED, &later, &id).await, 204);
    assert_eq!(resale.order(types::ORDER_CANCELLED, &later, &id).await, 204);
    assert_eq!(resale.app.show(&id).await["available"], 0);
    let on_sale = resale
        .app
        .send(testing::empty_request("GET", "/api/tickets"))
        .await;
    let on_sale = json_body(on_sale).await;
    let ids: Vec<&Value> = on_sale
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert!(!ids.contains(&&json!(&id)), "{on_sale}");
    assert_eq!(resale.updates().await.len(), 1);
}

#[tokio::test]
async fn a_resale_listing_whose_pass_is_used_after_its_hold_ended_is_withdrawn_at_once() {
    let resale = Resale::start().await;
    let (bearer, pass) = resale.holder_with_pass().await;
    let id = resale.listed(&bearer, &pass, json!(15)).await;
    let order = new_id();
    for kind in [types::ORDER_CREATED, types::ORDER_CANCELLED] {
        assert_eq!(resale.order(kind, &order, &id).await, 204);
    }
    assert_eq!(resale.checked_in(&pass).await, 204);
    assert_eq!(resale.app.show(&id).await["available"], 0);
    let updates = resale.updates().await;
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].source, "/ticketing/track-passes");
}

#[tokio::test]
async fn a_held_resale_listing_of_a_used_pass_that_sells_stays_sold_out() {
    let resale = Resale::start().await;
    let (bearer, pass) = resale.holder_with_pass().await;
    let id = resale.listed(&bearer, &pass, json!(15)).await;
    let order = new_id();
    assert_eq!(resale.order(types::ORDER_CREATED, &order, &id).await, 204);
    assert_eq!(resale.checked_in(&pass).await, 204);
    // Paid: sold out (issue-passes refuses to issue against the used pass, and orders refunds).
    assert_eq!(resale.order(types::ORDER_COMPLETED, &order, &id).await, 204);
    let shown = resale.app.show(&id).await;
    assert_eq!(shown["available"], 0);
    assert_eq!(shown["quantity"], 1);
    assert!(resale.updates().await.is_empty());
}

#[tokio::test]
async fn a_withdrawn_resale_listing_frees_the_pass_to_be_listed_again() {
    let resale = Resale::start().await;
    let (bearer, pass) = resale.holder_with_pass().await;
    let first = resale.listed(&bearer, &pass, json!(15)).await;
    let response = resale
        .app
        .send(testing::authed_empty(
            "DELETE",
            &format!("/api/tickets/{first}"),
            &bearer,
        ))
        .await;
    assert_eq!(response.status(), 200);
    let second = resale.listed(&bearer, &pass, json!(12)).await;
    assert_ne!(second, first);
    let revoked = PassRevokedData {
        id: PassId::new(pass.clone()),
        order_id: OrderId::new(new_id()),
        ticket_id: TicketId::new(new_id()),
    };
    assert_eq!(resale.track(pass_types::PASS_REVOKED, &revoked).await, 204);
    assert_eq!(resale.app.show(&second).await["available"], 0);
}
