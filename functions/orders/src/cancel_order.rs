//! `DELETE /api/orders/:id`: the buyer gives the held tickets back.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::delete;
use contract::OrderStatus;
use shared::error::ApiError;
use shared::outbox::StoreSettings;
use shared::session::{Sessions, SignedIn};

use crate::order::COMPLETED;
use crate::queue::Admission;
use crate::show_order::owned_order;
use crate::store::{self, Ending};
use crate::{Buyers, Ledger};

pub fn router(state: Buyers<Ledger>) -> Router {
    Router::new()
        .route("/api/orders/{id}", delete(cancel_order))
        .with_state(state)
}

/// Sessions, the table, NATS, `DROP_ADMISSION_SECONDS` and `DROP_ADMITTED_MAX` (a cancelled order
/// lets a drop's queue move on); no hold time.
pub async fn app(
    (sessions, (store, admission)): (Sessions, (StoreSettings, Admission)),
) -> Result<Router, async_nats::ConnectError> {
    Ok(router(Buyers {
        store: Ledger::connect(store, admission).await?,
        sessions,
    }))
}

async fn cancel_order(
    State(Buyers { store: ledger, .. }): State<Buyers<Ledger>>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let order = owned_order(&ledger.orders, &user.id, &id).await?;
    let ended = store::end(
        &ledger.orders,
        &ledger.outbox,
        "cancel-order",
        order,
        Ending::Cancel,
    )
    .await?;
    if ended.status == OrderStatus::Complete {
        return Err(ApiError::rule(COMPLETED));
    }
    ledger.advance_queue(&ended).await;
    Ok(StatusCode::NO_CONTENT)
}
