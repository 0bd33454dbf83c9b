//! `GET /api/orders`: the caller's orders, every status, newest first, a page at a time.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use contract::api::OrderBody;
use shared::dynamo::{self, TablePrefix};
use shared::error::ApiError;
use shared::paging::{self, Page};
use shared::session::{Sessions, SignedIn};

use crate::Buyers;
use crate::order::OrderItem;
use crate::store::Orders;

pub fn router(state: Buyers<Orders>) -> Router {
    Router::new()
        .route("/api/orders", get(list_orders))
        .with_state(state)
}

/// Reads only: sessions and the table.
pub async fn app((sessions, prefix): (Sessions, TablePrefix)) -> Router {
    router(Buyers {
        store: Orders::connect(&prefix).await,
        sessions,
    })
}

async fn list_orders(
    State(state): State<Buyers<Orders>>,
    SignedIn(user): SignedIn,
    page: Page,
) -> Result<Response, ApiError> {
    let listed = state.store.list_for(&user.id, &page).await?;
    let orders = listed
        .items
        .into_iter()
        .map(|item| dynamo::parse_item::<OrderItem>(item).map(|o| o.body()))
        .collect::<Result<Vec<OrderBody>, _>>()?;
    Ok(paging::response("/api/orders", &page, &orders, listed.next))
}
