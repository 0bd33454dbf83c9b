//! A drop's waiting room: joining and reading the queue, admissions that hold capacity, orders on
//! a drop, lapses, the waiting list, and the fair order (`api.md`, "Drops and the waiting room").

mod support;

use std::time::Duration;

use futures::future::join_all;
use futures::{StreamExt, stream};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use shared::testing::{self as testing, json_body};
use support::{SEED, TestApp, order_request};

/// How many requests the crowd keeps in flight.
const IN_FLIGHT: usize = 10;

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().expect("message")
}

/// The contract's order, recomputed by a buyer from the published seed: hex HMAC-SHA256 keyed with
/// the seed's bytes, over the buyer id.
fn published_order(seed: &str, buyer: &str) -> String {
    let key = hex::decode(seed).expect("hex seed");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(buyer.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A drop of one ticket whose first buyer was let in and ordered it, a second waiting behind.
struct OneOrdered {
    ticket: String,
    first: String,
    second_id: String,
    second: String,
    order: Value,
}

async fn one_ordered(app: &TestApp) -> OneOrdered {
    let (seller, _) = app.user("seller");
    let (_, first) = app.user("first");
    let (second_id, second) = app.user("second");
    let ticket = app.drop_on_sale(&seller, 1).await;
    assert_eq!(app.joined(&first, &ticket, 1).await["state"], "admitted");
    assert_eq!(app.joined(&second, &ticket, 1).await["state"], "waiting");
    let order = app.placed(&first, &ticket, 1).await;
    OneOrdered {
        ticket,
        first,
        second_id,
        second,
        order,
    }
}

#[tokio::test]
async fn joining_twice_answers_202_then_200_with_the_same_entry() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let on_sale = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let ticket = app.drop_listing(&seller, 5, on_sale, SEED).await;

    let first = app.joined_anew(&bearer, &ticket, 2).await;
    assert_eq!(first["ticketId"], ticket.as_str());
    assert_eq!(first["quantity"], 2);
    assert_eq!(first["state"], "waiting");
    assert_eq!(first["position"], 1);
    assert_eq!(
        first["onSaleAt"],
        shared::time::rfc3339(on_sale.replace_nanosecond(0).expect("second"))
    );
    assert_eq!(first["admittedUntil"], Value::Null);
    assert_eq!(first["orderId"], Value::Null);
    // Before any admission, the wait is the time until sales start.
    let wait = first["estimatedWaitSeconds"].as_i64().expect("estimate");
    assert!((3590..=3600).contains(&wait), "{wait}");

    let again = app.join(&bearer, &ticket, 3).await;
    assert_eq!(again.status(), 200);
    let again = json_body(again).await;
    assert_eq!(again["quantity"], 2, "the same entry, not a new one");
    assert_eq!(again["joinedAt"], first["joinedAt"]);
    let mut shown = app.entry(&bearer, &ticket).await;
    let mut again = again;
    // The estimate may have ticked by a second between the two.
    shown["estimatedWaitSeconds"] = Value::Null;
    again["estimatedWaitSeconds"] = Value::Null;
    assert_eq!(shown, again);
}

#[tokio::test]
async fn the_queue_refuses_what_the_contract_refuses() {
    let app = TestApp::start().await;
    let (seller, seller_bearer) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let plain = app.listing(&seller, 5).await;
    let drop = app.drop_on_sale(&seller, 5).await;

    let not_a_drop = app.join(&bearer, &plain, 1).await;
    assert_eq!(not_a_drop.status(), 400);
    assert_eq!(
        message(&json_body(not_a_drop).await),
        "This listing has no queue"
    );
    let own = app.join(&seller_bearer, &drop, 1).await;
    assert_eq!(own.status(), 400);
    assert_eq!(
        message(&json_body(own).await),
        "You cannot buy your own ticket"
    );
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(app.join(&bearer, &unknown, 1).await.status(), 404);
    assert_eq!(app.join(&bearer, "not-an-id", 1).await.status(), 404);
    let too_many = app.join(&bearer, &drop, 11).await;
    assert_eq!(too_many.status(), 400);
    assert_eq!(
        json_body(too_many).await["errors"],
        json!([{"message": "Quantity must be a whole number between 1 and 10", "field": "quantity"}])
    );
    // Not in the queue: nothing to show. Nor without a session.
    assert_eq!(app.queue(&bearer, &drop).await.status(), 404);
    let anonymous = app
        .send(shared::testing::empty_request(
            "GET",
            &format!("/api/tickets/{drop}/queue"),
        ))
        .await;
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn a_drop_cannot_be_ordered_before_sales_start_nor_without_an_admission() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let upcoming = app.drop_listing(&seller, 5, later, SEED).await;
    assert_eq!(app.join(&bearer, &upcoming, 1).await.status(), 202);
    let early = app.order(&bearer, &upcoming, 1).await;
    assert_eq!(early.status(), 400);
    assert_eq!(message(&json_body(early).await), "Sales have not started");

    let selling = app.drop_on_sale(&seller, 5).await;
    let uninvited = app.order(&bearer, &selling, 1).await;
    assert_eq!(uninvited.status(), 403);
    assert_eq!(
        message(&json_body(uninvited).await),
        "Wait for your turn in the queue"
    );
    assert_eq!(app.replica(&selling).await.available, 5);
}

#[tokio::test]
async fn an_order_refused_for_want_of_an_admission_does_not_spend_its_idempotency_key() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let ticket = app.drop_on_sale(&seller, 5).await;
    let keyed = || order_request(&bearer, &ticket, 1, Some("buy-once"));
    assert_eq!(app.send(keyed()).await.status(), 403);
    assert_eq!(app.joined(&bearer, &ticket, 1).await["state"], "admitted");
    // The refusal was not the key's answer: the same key now places the order, once.
    let placed = app.send(keyed()).await;
    assert_eq!(placed.status(), 201);
    let order = json_body(placed).await;
    let replayed = json_body(app.send(keyed()).await).await;
    assert_eq!(replayed["id"], order["id"]);
}

#[tokio::test]
async fn simultaneous_orders_with_one_key_on_a_drop_place_one_order_and_each_answers_it() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let ticket = app.drop_on_sale(&seller, 5).await;
    assert_eq!(app.joined(&bearer, &ticket, 2).await["state"], "admitted");

    let answers = join_all(
        (0..8).map(|_| app.send(order_request(&bearer, &ticket, 2, Some("one-drop-order")))),
    )
    .await;
    let mut ids = Vec::new();
    for answer in answers {
        assert_eq!(answer.status(), 201);
        ids.push(json_body(answer).await["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let listed = json_body(
        app.send(testing::authed_empty("GET", "/api/orders", &bearer))
            .await,
    )
    .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["id"], ids[0]);
    assert_eq!(app.replica(&ticket).await.available, 3);
}

#[tokio::test]
async fn a_drop_order_s_key_keeps_its_first_answer_a_refusal_or_an_order() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let ticket = app.drop_on_sale(&seller, 5).await;
    assert_eq!(app.joined(&bearer, &ticket, 2).await["state"], "admitted");

    let too_many = app
        .send(order_request(&bearer, &ticket, 3, Some("first")))
        .await;
    assert_eq!(too_many.status(), 400);
    // The refusal is the key's answer, even for a request that would now succeed.
    let again = app
        .send(order_request(&bearer, &ticket, 2, Some("first")))
        .await;
    assert_eq!(again.status(), 400);
    assert_eq!(
        message(&json_body(again).await),
        "Quantity must be a whole number between 1 and 2"
    );

    let placed = app
        .send(order_request(&bearer, &ticket, 2, Some("second")))
        .await;
    assert_eq!(placed.status(), 201);
    let order = json_body(placed).await;
    // A retry of the order, even one that would be refused now, gets the order back.
    for quantity in [2, 3] {
        let replayed = app
            .send(order_request(&bearer, &ticket, quantity, Some("second")))
            .await;
        assert_eq!(replayed.status(), 201);
        assert_eq!(json_body(replayed).await, order);
    }
    assert_eq!(app.entry(&bearer, &ticket).await["orderId"], order["id"]);
}

#[tokio::test]
async fn an_admitted_buyer_s_order_takes_the_held_tickets_and_marks_the_entry_ordered() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let ticket = app.drop_on_sale(&seller, 5).await;

    let joined = app.joined(&bearer, &ticket, 2).await;
    assert_eq!(joined["state"], "admitted");
    assert_eq!(joined["position"], Value::Null);
    let until = shared::time::parse_rfc3339(joined["admittedUntil"].as_str().expect("until"))
        .expect("time");
    let window = (until - time::OffsetDateTime::now_utc()).whole_seconds();
    assert!((118..=121).contains(&window), "{window}");
    // The admission holds its tickets already.
    assert_eq!(app.replica(&ticket).await.available, 3);

    let too_many = app.order(&bearer, &ticket, 3).await;
    assert_eq!(too_many.status(), 400);
    assert_eq!(
        message(&json_body(too_many).await),
        "Quantity must be a whole number between 1 and 2"
    );
    let order = app.placed(&bearer, &ticket, 2).await;
    // No second hold: the order used the admission's.
    assert_eq!(app.replica(&ticket).await.available, 3);
    let entry = app.entry(&bearer, &ticket).await;
    assert_eq!(entry["state"], "ordered");
    assert_eq!(entry["orderId"], order["id"]);
    // The admission is used: a second order is not let in.
    assert_eq!(app.order(&bearer, &ticket, 1).await.status(), 403);
}

#[tokio::test]
async fn an_order_for_less_than_admitted_gives_the_rest_back() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    let ticket = app.drop_on_sale(&seller, 5).await;
    assert_eq!(app.joined(&bearer, &ticket, 3).await["state"], "admitted");
    assert_eq!(app.replica(&ticket).await.available, 2);
    app.placed(&bearer, &ticket, 1).await;
    assert_eq!(app.replica(&ticket).await.available, 4);
}

#[tokio::test]
async fn a_crowd_is_never_admitted_for_more_than_there_is_and_every_admitted_order_succeeds() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let ticket = app.drop_on_sale(&seller, 20).await;
    let buyers = app.crowd(200);

    // Everyone joins at once, then everyone reads at once, on several instances' worth of routes.
    // 10 in flight: a shared 2-core machine's DynamoDB Local answers a few dozen calls a second
    // under load, and a request has 10 s.
    let joins = buyers
        .iter()
        .map(|(_, bearer)| app.join(bearer, &ticket, 1));
    let joined: Vec<_> = stream::iter(joins)
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    for response in joined {
        let status = response.status().as_u16();
        let cause = response
            .extensions()
            .get::<shared::error::FailureCause>()
            .map(|cause| cause.0.to_string());
        assert_eq!(status, 202, "{cause:?}");
    }
    let reads = buyers.iter().map(|(_, bearer)| app.entry(bearer, &ticket));
    let seen: Vec<Value> = stream::iter(reads)
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let admitted_seen = seen.iter().filter(|e| e["state"] == "admitted").count();
    assert!(admitted_seen <= 20, "{admitted_seen} admitted at once");
    // Once the crowd has passed, each read finds the queue settled.
    let mut entries = Vec::new();
    for (_, bearer) in &buyers {
        entries.push(app.entry(bearer, &ticket).await);
    }
    let admitted: Vec<&(String, String)> = buyers
        .iter()
        .zip(&entries)
        .filter(|(_, entry)| entry["state"] == "admitted")
        .map(|(buyer, _)| buyer)
        .collect();
    assert_eq!(admitted.len(), 20, "all of the capacity, and no more");
    assert_eq!(app.replica(&ticket).await.available, 0);
    let mut positions: Vec<i64> = entries
        .iter()
        .filter(|entry| entry["state"] == "waiting")
        .map(|entry| entry["position"].as_i64().expect("position"))
        .collect();
    positions.sort_unstable();
    assert_eq!(positions, (1..=180).collect::<Vec<i64>>());

    let orders = admitted
        .iter()
        .map(|(_, bearer)| app.order(bearer, &ticket, 1));
    for response in join_all(orders).await {
        assert_eq!(response.status(), 201);
    }
    assert_eq!(app.replica(&ticket).await.available, 0);
    assert_eq!(app.replica(&ticket).await.reserved, 20);
}

#[tokio::test]
async fn a_lapsed_admission_gives_its_tickets_to_the_next_in_line() {
    let app = TestApp::with_admission(Duration::from_secs(1)).await;
    let (seller, _) = app.user("seller");
    let (_, first) = app.user("first");
    let (_, second) = app.user("second");
    let ticket = app.drop_on_sale(&seller, 1).await;
    assert_eq!(app.joined(&first, &ticket, 1).await["state"], "admitted");
    let waiting = app.joined(&second, &ticket, 1).await;
    assert_eq!(waiting["state"], "waiting");
    assert_eq!(waiting["position"], 1);

    // Admitted until the end of the second after next; lapsed the second after that.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(app.entry(&second, &ticket).await["state"], "admitted");
    assert_eq!(app.entry(&first, &ticket).await["state"], "lapsed");
    assert_eq!(app.order(&first, &ticket, 1).await.status(), 403);
    assert_eq!(app.replica(&ticket).await.available, 0);

    // Joining again queues at the back.
    let back = app.joined_anew(&first, &ticket, 1).await;
    assert_eq!(back["state"], "waiting");
    assert_eq!(back["position"], 1);
}

#[tokio::test]
async fn rejoining_once_an_admission_ran_out_unlapsed_queues_at_the_back_and_returns_it_once() {
    let app = TestApp::with_admission(Duration::from_secs(1)).await;
    let (seller, _) = app.user("seller");
    let (_, late) = app.user("late");
    let (_, next) = app.user("next");
    let (_, after) = app.user("after");
    let ticket = app.drop_on_sale(&seller, 2).await;
    assert_eq!(app.joined(&late, &ticket, 2).await["state"], "admitted");
    assert_eq!(app.joined(&next, &ticket, 2).await["position"], 1);
    assert_eq!(app.joined(&after, &ticket, 1).await["position"], 2);

    // The admission runs out and nothing advances the queue: the entry is still stored admitted,
    // though shown lapsed.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let back = app.joined_anew(&late, &ticket, 2).await;
    assert_eq!(back["state"], "waiting");
    assert_eq!(back["position"], 2, "behind the one still waiting");
    // Its 2 tickets came back and went to the next in line, who wanted 2: given back once, or
    // `after` would be admitted too.
    assert_eq!(app.entry(&next, &ticket).await["state"], "admitted");
    assert_eq!(app.entry(&after, &ticket).await["position"], 1);
    let replica = app.replica(&ticket).await;
    assert_eq!((replica.available, replica.reserved), (0, 2));
}

#[tokio::test]
async fn a_lapse_of_an_admission_read_for_another_quantity_writes_nothing() {
    let app = TestApp::with_admission(Duration::from_secs(1)).await;
    let (seller, _) = app.user("seller");
    let (buyer_id, buyer) = app.user("buyer");
    let ticket = app.drop_on_sale(&seller, 5).await;
    app.join(&buyer, &ticket, 3).await;
    let stored = app.stored_entry(&ticket, &buyer_id).await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let now = shared::time::unix_now();

    // As an advance would hold it had it read the entry before a rejoin for 1.
    let mut stale = stored.clone();
    stale.quantity = 1;
    assert!(!app.state.orders.lapse(&stale, now).await.expect("lapse"));
    assert_eq!(app.replica(&ticket).await.available, 2);
    assert!(app.state.orders.lapse(&stored, now).await.expect("lapse"));
    assert_eq!(app.replica(&ticket).await.available, 5);
}

#[tokio::test]
async fn a_buyer_whose_admitted_order_was_cancelled_may_join_again_at_the_back() {
    let app = TestApp::start().await;
    let OneOrdered {
        ticket,
        first,
        second,
        order,
        ..
    } = one_ordered(&app).await;
    // While the order holds the tickets, the entry stands.
    let again = app.join(&first, &ticket, 1).await;
    assert_eq!(again.status(), 200);
    assert_eq!(json_body(again).await["state"], "ordered");

    app.cancel(&first, &order).await;
    // The cancellation let the second buyer in (another function's advance): a moment later the
    // head of the line shows it.
    support::a_moment_later().await;
    let back = app.joined_anew(&first, &ticket, 1).await;
    assert_eq!(back["state"], "waiting");
    assert_eq!(back["position"], 1);
    assert_eq!(app.entry(&second, &ticket).await["state"], "admitted");
    let replica = app.replica(&ticket).await;
    assert_eq!((replica.available, replica.reserved), (0, 1));
}

#[tokio::test]
async fn a_sold_out_entry_may_join_again_for_what_could_still_be_sold() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, greedy) = app.user("greedy");
    let ticket = app.drop_on_sale(&seller, 2).await;
    assert_eq!(app.joined(&greedy, &ticket, 3).await["state"], "sold-out");
    let again = app.join(&greedy, &ticket, 3).await;
    assert_eq!(again.status(), 200, "3 could still never be sold");
    let fewer = app.joined_anew(&greedy, &ticket, 2).await;
    assert_eq!(fewer["state"], "admitted");
    assert_eq!(fewer["quantity"], 2);
}

#[tokio::test]
async fn a_cancelled_order_lets_the_next_in_line_in_at_once() {
    let app = TestApp::start().await;
    let OneOrdered {
        ticket,
        first,
        second_id,
        second,
        order,
    } = one_ordered(&app).await;
    app.cancel(&first, &order).await;
    // The cancel itself admitted the next buyer: no read was needed.
    let entry = app.stored_entry(&ticket, &second_id).await;
    assert_eq!(entry.state, contract::drops::QueueState::Admitted);
    app.placed(&second, &ticket, 1).await;
}

#[tokio::test]
async fn an_expired_order_lets_the_next_in_line_in() {
    let app = TestApp::start().await;
    let OneOrdered {
        ticket,
        second_id,
        order,
        ..
    } = one_ordered(&app).await;
    let lapsed = support::lapsed(&order);
    let status = app
        .deliver(orders::outcomes::expire_router(app.state.ledger()), &lapsed)
        .await;
    assert_eq!(status, 204);
    let entry = app.stored_entry(&ticket, &second_id).await;
    assert_eq!(entry.state, contract::drops::QueueState::Admitted);
}

#[tokio::test]
async fn an_entry_wanting_more_than_could_ever_be_left_is_sold_out() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, greedy) = app.user("greedy");
    let (_, modest) = app.user("modest");
    let ticket = app.drop_on_sale(&seller, 1).await;
    let entry = app.joined(&greedy, &ticket, 2).await;
    assert_eq!(entry["state"], "sold-out");
    assert_eq!(entry["position"], Value::Null);
    // It does not stand in the way of those who can still be served.
    assert_eq!(app.joined(&modest, &ticket, 1).await["state"], "admitted");
}

#[tokio::test]
async fn once_every_ticket_is_paid_for_those_still_waiting_are_sold_out() {
    let app = TestApp::start().await;
    let OneOrdered {
        ticket,
        second: waiting,
        order,
        ..
    } = one_ordered(&app).await;
    // Held, not sold: the ticket could still come back.
    assert_eq!(app.entry(&waiting, &ticket).await["state"], "waiting");

    let payment_id = uuid::Uuid::now_v7().to_string();
    let payment = support::payment_created(&payment_id, order["id"].as_str().expect("id"));
    for _ in 0..2 {
        let status = app
            .deliver(
                orders::outcomes::complete_router(app.state.ledger()),
                &payment,
            )
            .await;
        assert_eq!(status, 204);
    }
    assert_eq!(app.replica(&ticket).await.sold, 1, "counted once");
    support::a_moment_later().await;
    let entry = app.entry(&waiting, &ticket).await;
    assert_eq!(entry["state"], "sold-out");
    assert_eq!(entry["position"], Value::Null);
}

#[tokio::test]
async fn pre_sale_entries_are_admitted_in_the_order_the_published_seed_gives() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let on_sale = (time::OffsetDateTime::now_utc() + time::Duration::seconds(6))
        .replace_nanosecond(0)
        .expect("second");
    let ticket = app.drop_listing(&seller, 1, on_sale, SEED).await;
    let buyers = app.crowd(8);
    app.join_in_turn(&buyers, &ticket).await;
    let left = on_sale - time::OffsetDateTime::now_utc();
    assert!(left.is_positive(), "every join was before sales started");
    // Someone who joins after sales start (and their grace) comes after all of them.
    let grace = Duration::from_secs(orders::queue::ADMISSION_GRACE_SECONDS.unsigned_abs());
    tokio::time::sleep(grace + Duration::from_millis(1100) + left.unsigned_abs()).await;
    let (_, late) = app.user("late");
    assert_eq!(app.join(&late, &ticket, 1).await.status(), 202);

    let mut expected: Vec<&(String, String)> = buyers.iter().collect();
    expected.sort_by_key(|(id, _)| published_order(SEED, id));
    let bearers: Vec<&str> = expected.iter().map(|(_, bearer)| bearer.as_str()).collect();
    app.assert_let_in_order(&bearers, &ticket).await;
    assert_eq!(app.entry(&late, &ticket).await["position"], 8);
}

#[tokio::test]
async fn admissions_start_a_grace_after_sales_start() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let (_, bearer) = app.user("buyer");
    // On sale from the start of this second.
    let ticket = app
        .drop_listing(&seller, 1, time::OffsetDateTime::now_utc(), SEED)
        .await;
    let joined = app.joined(&bearer, &ticket, 1).await;
    assert_eq!(
        joined["state"], "waiting",
        "pre-sale joins may still be landing"
    );
    let grace = Duration::from_secs(orders::queue::ADMISSION_GRACE_SECONDS.unsigned_abs());
    tokio::time::sleep(grace + Duration::from_millis(100)).await;
    assert_eq!(app.entry(&bearer, &ticket).await["state"], "admitted");
}

#[tokio::test]
async fn post_sale_joins_are_admitted_in_the_order_they_joined() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let ticket = app.drop_on_sale(&seller, 1).await;
    let buyers = app.crowd(6);
    app.join_in_turn(&buyers, &ticket).await;
    let bearers: Vec<&str> = buyers.iter().map(|(_, bearer)| bearer.as_str()).collect();
    app.assert_let_in_order(&bearers, &ticket).await;
}

#[tokio::test]
async fn no_more_buyers_are_admitted_at_once_than_the_pace_allows_and_an_order_lets_the_next_in() {
    let mut app = TestApp::start().await;
    app.line.admission.open_max = 2;
    let (seller, _) = app.user("seller");
    let ticket = app.drop_on_sale(&seller, 5).await;
    let buyers = app.crowd(3);
    app.join_in_turn(&buyers, &ticket).await;
    let [first, second, third] = [0, 1, 2].map(|n| buyers[n].1.as_str());
    // Tickets enough for all three, but two admissions open at most: the third waits at the front.
    assert_eq!(app.entry(first, &ticket).await["state"], "admitted");
    assert_eq!(app.entry(second, &ticket).await["state"], "admitted");
    let waiting = app.entry(third, &ticket).await;
    assert_eq!(
        (&waiting["state"], &waiting["position"]),
        (&json!("waiting"), &json!(1))
    );
    app.placed(first, &ticket, 1).await;
    support::a_moment_later().await;
    assert_eq!(app.entry(third, &ticket).await["state"], "admitted");
    assert_eq!(app.replica(&ticket).await.available, 2);
}

#[tokio::test]
async fn the_replica_keeps_a_drop_s_on_sale_time_and_seed_through_updates() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let on_sale = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let ticket = app.drop_listing(&seller, 5, on_sale, SEED).await;
    let replica = app.replica(&ticket).await;
    assert_eq!(
        replica.on_sale_at.as_deref(),
        Some(shared::time::rfc3339(on_sale.replace_nanosecond(0).expect("second")).as_str())
    );
    assert_eq!(replica.queue_seed.as_deref(), Some(SEED));

    // An update that makes it an ordinary listing again removes both.
    let plain = app.ticket_event(&ticket, &seller, 1, 5, 2000);
    let status = app
        .deliver(orders::replica::router(app.state.orders.clone()), &plain)
        .await;
    assert_eq!(status, 204);
    let replica = app.replica(&ticket).await;
    assert_eq!(replica.on_sale_at, None);
    assert_eq!(replica.queue_seed, None);
}

#[tokio::test]
async fn buyers_joining_at_once_are_each_written_once_even_when_they_send_twice() {
    let app = TestApp::start().await;
    let (seller, _) = app.user("seller");
    let on_sale = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let ticket = app.drop_listing(&seller, 5, on_sale, SEED).await;
    let crowd = app.crowd(40);
    // Every buyer at once, and the first ten twice: the joins of one instance are put together.
    let joins = crowd
        .iter()
        .chain(&crowd[..10])
        .map(|(_, bearer)| app.join(bearer, &ticket, 1));
    let answers: Vec<u16> = join_all(joins)
        .await
        .iter()
        .map(|response| response.status().as_u16())
        .collect();
    for (n, (_, bearer)) in crowd.iter().enumerate() {
        let mine: Vec<u16> = answers
            .iter()
            .enumerate()
            .filter(|&(k, _)| k == n || k == crowd.len() + n)
            .map(|(_, &status)| status)
            .collect();
        let mut mine = mine;
        mine.sort_unstable();
        let expected: &[u16] = if n < 10 { &[200, 202] } else { &[202] };
        assert_eq!(mine, expected, "buyer {n}");
        assert_eq!(app.entry(bearer, &ticket).await["state"], "waiting");
    }
    let mut positions: Vec<i64> = Vec::new();
    for (_, bearer) in &crowd {
        positions.push(
            app.entry(bearer, &ticket).await["position"]
                .as_i64()
                .expect("position"),
        );
    }
    positions.sort_unstable();
    assert_eq!(positions, (1..=40).collect::<Vec<i64>>(), "one entry each");
}

#[tokio::test]
async fn one_read_at_the_start_of_a_big_drop_lets_in_more_than_one_transaction_holds() {
    let mut app = TestApp::start().await;
    app.line.admission.open_max = 250;
    let (seller, _) = app.user("seller");
    let on_sale = time::OffsetDateTime::now_utc() + time::Duration::seconds(4);
    let ticket = app.drop_listing(&seller, 250, on_sale, SEED).await;
    let mut crowd = app.crowd(250);
    let joins = crowd.iter().map(|(_, bearer)| app.join(bearer, &ticket, 1));
    for response in join_all(joins).await {
        assert_eq!(response.status(), 202);
    }
    let left = on_sale - time::OffsetDateTime::now_utc();
    assert!(left.is_positive(), "every join was before sales started");
    crowd.sort_by_key(|(id, _)| orders::queue::fair_place(SEED, id));
    let grace = Duration::from_secs(orders::queue::ADMISSION_GRACE_SECONDS.unsigned_abs());
    tokio::time::sleep(grace + Duration::from_millis(1100) + left.unsigned_abs()).await;
    // The last in line reads first: that one advance lets everyone in (99 per transaction).
    let (_, last) = crowd.last().expect("a crowd");
    assert_eq!(app.entry(last, &ticket).await["state"], "admitted");
    assert_eq!(app.replica(&ticket).await.available, 0);
}
