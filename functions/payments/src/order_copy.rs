//! `copy-order`: keeps this context's copy of each order from `order.created`, `order.cancelled`
//! and `order.completed`. A later version replaces an earlier one; an end that comes before the
//! creation is a 409 for the bridge to retry.

use aws_sdk_dynamodb::types::AttributeValue;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use shared::dynamo::{self, PK};
use shared::error::ApiError;
use shared::events::{CloudEvent, types};

use crate::PaymentState;
use crate::store::{OrderCopy, order_key, status};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatedData {
    id: String,
    version: i64,
    user_id: String,
    expires_at: String,
    total: i64,
}

#[derive(Debug, Deserialize)]
struct EndedData {
    id: String,
    version: i64,
}

pub fn router(state: PaymentState) -> Router {
    Router::new().route("/", post(copy_order)).with_state(state)
}

async fn copy_order(
    State(state): State<PaymentState>,
    event: CloudEvent,
) -> Result<StatusCode, ApiError> {
    event.expect_type(&[
        types::ORDER_CREATED,
        types::ORDER_CANCELLED,
        types::ORDER_COMPLETED,
    ])?;
    let payments = &state.payments;
    if event.kind == types::ORDER_CREATED {
        let order: CreatedData = event.data_as()?;
        let expires = time_of(&order.expires_at)?;
        let copy = OrderCopy {
            pk: order_key(&order.id),
            id: order.id,
            user_id: order.user_id,
            status: status::CREATED.to_owned(),
            total: order.total,
            expires_at_unix: expires,
            version: order.version,
            attempt_until: None,
        };
        let put = payments
            .client()
            .put_item()
            .table_name(payments.table())
            .set_item(Some(dynamo::item_of(&copy)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        return match put {
            Ok(_) => Ok(StatusCode::NO_CONTENT),
            Err(err) if dynamo::is_condition_failure(&err) => Ok(StatusCode::NO_CONTENT),
            Err(err) => Err(dynamo::sdk_error(err)),
        };
    }
    let order: EndedData = event.data_as()?;
    let to = if event.kind == types::ORDER_CANCELLED {
        status::CANCELLED
    } else {
        status::COMPLETE
    };
    let updated = payments
        .client()
        .update_item()
        .table_name(payments.table())
        .key(PK, dynamo::s(order_key(&order.id)))
        .update_expression("SET #status = :to, version = :version")
        .condition_expression("attribute_exists(#pk) AND version < :version")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":to", AttributeValue::S(to.to_owned()))
        .expression_attribute_values(":version", dynamo::n(order.version))
        .send()
        .await;
    match updated {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(err) if dynamo::is_condition_failure(&err) => match payments.order(&order.id).await? {
            Some(_) => Ok(StatusCode::NO_CONTENT),
            None => Err(ApiError::Conflict(format!(
                "{} before the order's creation",
                event.kind
            ))),
        },
        Err(err) => Err(dynamo::sdk_error(err)),
    }
}

fn time_of(text: &str) -> Result<i64, ApiError> {
    shared::time::parse_rfc3339(text)
        .map(|t| t.unix_timestamp())
        .ok_or_else(|| ApiError::rule("order.created with an unreadable expiresAt"))
}
