//! A waiting buyer's position, read from each instance's copy of the line (`positions`), stays the
//! count of the entries ahead, plus one, while admissions and joins move the line.

mod support;

use axum::Router;
use orders::queue::Line;
use serde_json::Value;
use shared::testing::{self, json_body};
use support::TestApp;

/// What another instance of `show-queue` answers: same table, its own copy of the line.
fn other_instance(app: &TestApp) -> Router {
    let line = Line::new(
        app.line.orders.clone(),
        app.line.sessions.clone(),
        app.line.admission,
    );
    shared::routing::finish(orders::show_queue::router(line))
}

async fn position_at(router: &Router, bearer: &str, ticket: &str) -> Value {
    let request = testing::authed_empty("GET", &format!("/api/tickets/{ticket}/queue"), bearer);
    let response = testing::send(router, request).await;
    assert_eq!(response.status(), 200);
    json_body(response).await["position"].clone()
}

/// Every buyer of `waiting` is at its place in that order, counted from 1, on both instances, a
/// moment after the line moved.
async fn assert_positions(
    app: &TestApp,
    other: &Router,
    waiting: &[(String, String)],
    ticket: &str,
) {
    support::a_moment_later().await;
    for (n, (_, bearer)) in waiting.iter().enumerate() {
        let expected = serde_json::json!(n + 1);
        assert_eq!(app.entry(bearer, ticket).await["position"], expected, "{n}");
        assert_eq!(
            position_at(other, bearer, ticket).await,
            expected,
            "{n}, elsewhere"
        );
    }
}

#[tokio::test]
async fn positions_follow_admissions_and_joins_on_every_instance() {
    let app = TestApp::start().await;
    let other = other_instance(&app);
    let (seller, _) = app.user("seller");
    let ticket = app.drop_on_sale(&seller, 3).await;
    let crowd = app.crowd(10);
    app.join_in_turn(&crowd, &ticket).await;
    // Three are let in; seven wait, in the order they joined.
    for (_, bearer) in &crowd[..3] {
        assert_eq!(app.entry(bearer, &ticket).await["state"], "admitted");
    }
    assert_positions(&app, &other, &crowd[3..], &ticket).await;

    // An admitted buyer orders and cancels: the first in line is let in, the others move up.
    let order = app.placed(&crowd[0].1, &ticket, 1).await;
    app.cancel(&crowd[0].1, &order).await;
    support::a_moment_later().await;
    assert_eq!(app.entry(&crowd[3].1, &ticket).await["state"], "admitted");
    assert_positions(&app, &other, &crowd[4..], &ticket).await;

    // Later buyers join at the back, seen by both instances at once.
    let later = app.crowd(3);
    app.join_in_turn(&later, &ticket).await;
    let waiting: Vec<(String, String)> = crowd[4..].iter().chain(&later).cloned().collect();
    assert_positions(&app, &other, &waiting, &ticket).await;
}

#[tokio::test]
async fn pre_sale_positions_count_every_entry_ahead_in_the_seed_s_order() {
    let app = TestApp::start().await;
    let other = other_instance(&app);
    let (seller, _) = app.user("seller");
    let on_sale = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let ticket = app.drop_listing(&seller, 5, on_sale, support::SEED).await;
    let mut crowd = app.crowd(8);
    for (_, bearer) in &crowd {
        assert_eq!(app.join(bearer, &ticket, 1).await.status(), 202);
    }
    crowd.sort_by_key(|(id, _)| orders::queue::fair_place(support::SEED, id));
    assert_positions(&app, &other, &crowd, &ticket).await;
}
