//! `GET /api/tickets/:id/queue`: the caller's entry in a drop's queue.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use contract::drops::QueueEntryBody;
use shared::error::ApiError;
use shared::session::SignedIn;
use shared::validation::existing_id;

use crate::queue::Line;

pub fn router(state: Line) -> Router {
    Router::new()
        .route("/api/tickets/{id}/queue", get(show_queue))
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

async fn show_queue(
    State(line): State<Line>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Result<axum::Json<QueueEntryBody>, ApiError> {
    let ticket_id = existing_id(&id)?;
    Ok(axum::Json(
        line.entry_body(&ticket_id, &user.id, None).await?,
    ))
}
