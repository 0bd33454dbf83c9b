//! This context's copy of each listing, fed by `ticket.created` and `ticket.updated`: what a hold
//! needs (price, seller, how many are left) without reading the tickets context's table.
//!
//! `reserved` counts what orders hold or bought; `available` = `quantity` − `reserved` is what the
//! hold's condition (`available >= :quantity`) guards. Events apply in version order: each update is
//! conditioned on the version before it.

use aws_sdk_dynamodb::types::AttributeValue;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use shared::dynamo::{self, PK};
use shared::error::ApiError;
use shared::events::data::TicketData;
use shared::events::{CloudEvent, types};

use crate::{OrderState, Settings};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketReplica {
    pub pk: String,
    pub entity: String,
    pub id: String,
    pub title: String,
    /// Cents.
    pub price: i64,
    pub quantity: i64,
    pub user_id: String,
    pub version: i64,
    pub reserved: i64,
    pub available: i64,
}

pub fn key(id: &str) -> String {
    format!("ticket#{id}")
}

pub fn router(state: OrderState) -> Router {
    Router::new()
        .route("/", post(replicate_ticket))
        .with_state(state)
}

pub async fn app(settings: Settings) -> Result<Router, async_nats::ConnectError> {
    Ok(router(OrderState::connect(settings).await?))
}

async fn replicate_ticket(
    State(state): State<OrderState>,
    event: CloudEvent,
) -> Result<StatusCode, ApiError> {
    event.expect_type(&[types::TICKET_CREATED, types::TICKET_UPDATED])?;
    let ticket: TicketData = event.payload()?;
    let client = state.orders.client();
    let table = state.orders.table();
    let written = if event.kind == types::TICKET_CREATED {
        let replica = TicketReplica {
            pk: key(&ticket.id),
            entity: "replica".to_owned(),
            id: ticket.id.clone(),
            title: ticket.title,
            price: ticket.price,
            quantity: ticket.quantity,
            user_id: ticket.user_id,
            version: ticket.version,
            reserved: 0,
            available: ticket.quantity,
        };
        client
            .put_item()
            .table_name(table)
            .set_item(Some(dynamo::item_of(&replica)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await
            .map(|_| ())
            .map_err(condition_or_error)
    } else {
        client
            .update_item()
            .table_name(table)
            .key(PK, dynamo::s(key(&ticket.id)))
            .update_expression(
                "SET title = :title, price = :price, quantity = :quantity, userId = :user, \
                 available = :quantity - reserved, version = :version",
            )
            .condition_expression("version = :previous")
            .expression_attribute_values(":title", AttributeValue::S(ticket.title))
            .expression_attribute_values(":price", dynamo::n(ticket.price))
            .expression_attribute_values(":quantity", dynamo::n(ticket.quantity))
            .expression_attribute_values(":user", AttributeValue::S(ticket.user_id))
            .expression_attribute_values(":version", dynamo::n(ticket.version))
            .expression_attribute_values(":previous", dynamo::n(ticket.version - 1))
            .send()
            .await
            .map(|_| ())
            .map_err(condition_or_error)
    };
    match written {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(None) => match state.orders.replica(&ticket.id).await? {
            Some(current) if current.version >= ticket.version => Ok(StatusCode::NO_CONTENT),
            _ => Err(ApiError::Conflict(format!(
                "version {} of ticket {} arrived before its predecessor",
                ticket.version, ticket.id
            ))),
        },
        Err(Some(err)) => Err(err),
    }
}

/// `None` for a failed condition, else the error.
fn condition_or_error<E, R>(err: aws_sdk_dynamodb::error::SdkError<E, R>) -> Option<ApiError>
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if dynamo::is_condition_failure(&err) {
        None
    } else {
        Some(dynamo::sdk_error(err))
    }
}
