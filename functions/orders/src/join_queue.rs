//! `POST /api/tickets/:id/queue`: the buyer joins a drop's queue for `quantity` tickets.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use contract::drops::QueueEntryBody;
use shared::error::ApiError;
use shared::json::JsonBody;
use shared::session::SignedIn;
use shared::validation::{ORDER_QUANTITY, Validator, existing_id, whole_number};

use crate::order::{OWN_TICKET, QUANTITY_RANGE};
use crate::queue::{Line, NO_QUEUE, QueueEntry};
use crate::store::Joined;

pub fn router(state: Line) -> Router {
    Router::new()
        .route("/api/tickets/{id}/queue", post(join_queue))
        .with_state(state)
}

/// Sessions, `TABLE_PREFIX`, `DROP_ADMISSION_SECONDS` and `DROP_ADMITTED_MAX`.
pub async fn app(
    settings: (
        shared::session::Sessions,
        (shared::dynamo::TablePrefix, crate::queue::Admission),
    ),
) -> Router {
    router(Line::app(settings).await)
}

async fn join_queue(
    State(line): State<Line>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<(StatusCode, axum::Json<QueueEntryBody>), ApiError> {
    let mut v = Validator::new();
    let quantity = v.check(
        "quantity",
        whole_number(
            body.get("quantity"),
            1,
            *ORDER_QUANTITY.start(),
            *ORDER_QUANTITY.end(),
            QUANTITY_RANGE,
        ),
    );
    let quantity = v.finish(|| quantity)?;
    let ticket_id = existing_id(&id)?;
    let ticket = line.replica(&ticket_id).await?.ok_or(ApiError::NotFound)?;
    let on_sale = ticket.on_sale_unix().ok_or(ApiError::rule(NO_QUEUE))?;
    if ticket.user_id == user.id {
        return Err(ApiError::rule(OWN_TICKET));
    }
    let entry = QueueEntry::new(&ticket, on_sale, &user.id, quantity);
    let now = shared::time::unix_now();
    let joined = if line.put_new(&entry).await? {
        Joined::New
    } else {
        line.orders.join_over(&entry, ticket.unsold(), now).await?
    };
    let (status, known) = match joined {
        Joined::New => (StatusCode::ACCEPTED, Some((ticket, entry))),
        Joined::Existing => (StatusCode::OK, None),
    };
    let body = line.entry_body(&ticket_id, &user.id, known).await?;
    Ok((status, axum::Json(body)))
}
