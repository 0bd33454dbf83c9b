//! `GET /api/orders`: the caller's orders, every status, newest first, a page at a time.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use shared::dynamo;
use shared::error::ApiError;
use shared::paging::{self, Page};
use shared::session::SignedIn;

use crate::order::{OrderBody, OrderItem};
use crate::{OrderState, Settings};

pub fn router(state: OrderState) -> Router {
    Router::new()
        .route("/api/orders", get(list_orders))
        .with_state(state)
}

pub async fn app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    Ok(router(OrderState::connect(settings).await?))
}

async fn list_orders(
    State(state): State<OrderState>,
    SignedIn(user): SignedIn,
    page: Page,
) -> Result<Response, ApiError> {
    let listed = state.orders.list_for(&user.id, &page).await?;
    let orders = listed
        .items
        .into_iter()
        .map(|item| dynamo::parse_item::<OrderItem>(item).map(|o| o.body()))
        .collect::<Result<Vec<OrderBody>, _>>()?;
    Ok(paging::response("/api/orders", &page, &orders, listed.next))
}
