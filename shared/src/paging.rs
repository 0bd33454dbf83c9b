//! Paging of list routes: `?limit=N&after=<cursor>` in, a page of items and a `Link` header out.
//!
//! A list is a query of the table's secondary index in one partition (the listings, one user's
//! orders), ordered by id. Ids are UUIDv7, so id order is creation order, and the cursor is simply the
//! id of the last item returned.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::dynamo::{self, INDEX, INDEX_PK, INDEX_SK, Item, PK};
use crate::error::{ApiError, ErrorEntry};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 100;

/// The paging parameters of a list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: usize,
    pub after: Option<String>,
}

impl Page {
    fn parse(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let limit = match query.get("limit") {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.trim().parse::<usize>() {
                Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
                _ => {
                    errors.push(ErrorEntry::field(
                        "limit",
                        "Limit must be a whole number between 1 and 100",
                    ));
                    DEFAULT_LIMIT
                }
            },
        };
        let after = match query.get("after") {
            None => None,
            Some(raw) if uuid::Uuid::try_parse(raw).is_ok() => Some(raw.clone()),
            Some(_) => {
                errors.push(ErrorEntry::field(
                    "after",
                    "After must be a cursor from a Link header",
                ));
                None
            }
        };
        if errors.is_empty() {
            Ok(Self { limit, after })
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Query(query) =
            Query::<HashMap<String, String>>::try_from_uri(&parts.uri).map_err(|_| {
                ApiError::Validation(vec![ErrorEntry::field(
                    "limit",
                    "Limit must be a whole number between 1 and 100",
                )])
            })?;
        Self::parse(&query)
    }
}

/// Which partition of a table's index to list, in which order, keeping which items.
pub struct IndexQuery<'a> {
    pub table: &'a str,
    /// The `gsi1pk` value of the partition.
    pub partition: String,
    /// The prefix of the table key before the id (`ticket#`), to rebuild a start key from a cursor.
    pub key_prefix: &'static str,
    pub newest_first: bool,
    /// A filter expression on other attributes, with its values.
    pub filter: Option<(&'static str, Vec<(&'static str, AttributeValue)>)>,
}

/// One page of items, and the cursor of the next page when there is one.
pub struct Listed {
    pub items: Vec<Item>,
    pub next: Option<String>,
}

/// Reads up to `page.limit` matching items after the cursor. A filter can make DynamoDB return
/// short pages, so it reads on until the page is full or the partition ends, and one item more tells
/// whether a next page exists.
pub async fn list(
    client: &Client,
    query: &IndexQuery<'_>,
    page: &Page,
) -> Result<Listed, ApiError> {
    let mut items: Vec<Item> = Vec::new();
    let mut start: Option<Item> = page.after.as_ref().map(|after| {
        HashMap::from([
            (
                PK.to_owned(),
                dynamo::s(format!("{}{after}", query.key_prefix)),
            ),
            (INDEX_PK.to_owned(), dynamo::s(query.partition.clone())),
            (INDEX_SK.to_owned(), dynamo::s(after.clone())),
        ])
    });
    loop {
        let mut request = client
            .query()
            .table_name(query.table)
            .index_name(INDEX)
            .key_condition_expression("#ipk = :partition")
            .expression_attribute_names("#ipk", INDEX_PK)
            .expression_attribute_values(":partition", dynamo::s(query.partition.clone()))
            .scan_index_forward(!query.newest_first)
            .limit(i32::try_from(page.limit + 1).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start.take());
        if let Some((expression, values)) = &query.filter {
            request = request.filter_expression(*expression);
            for (name, value) in values {
                request = request.expression_attribute_values(*name, value.clone());
            }
        }
        let output = request.send().await.map_err(dynamo::sdk_error)?;
        items.extend(output.items.unwrap_or_default());
        if items.len() > page.limit {
            items.truncate(page.limit);
            let next = items
                .last()
                .and_then(|item| item.get(INDEX_SK))
                .and_then(|v| v.as_s().ok())
                .cloned();
            return Ok(Listed { items, next });
        }
        match output.last_evaluated_key {
            Some(key) => start = Some(key),
            None => return Ok(Listed { items, next: None }),
        }
    }
}

/// A 200 JSON array, with `Link: <path?limit=N&after=…>; rel="next"` when more exist.
pub fn response<T: serde::Serialize>(
    path: &str,
    page: &Page,
    body: &[T],
    next: Option<String>,
) -> Response {
    let mut response = axum::Json(body).into_response();
    if let Some(next) = next {
        let link = format!("<{path}?limit={}&after={next}>; rel=\"next\"", page.limit);
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn no_parameters_mean_the_first_hundred() {
        assert_eq!(
            Page::parse(&query(&[])).expect("page"),
            Page {
                limit: 100,
                after: None
            }
        );
    }

    #[test]
    fn a_limit_outside_one_to_a_hundred_is_refused() {
        for bad in ["0", "101", "-1", "ten", "1.5"] {
            assert!(Page::parse(&query(&[("limit", bad)])).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cursor_that_no_link_gave_is_refused() {
        assert!(Page::parse(&query(&[("after", "not-an-id")])).is_err());
        let id = uuid::Uuid::now_v7().to_string();
        let page = Page::parse(&query(&[("after", &id)])).expect("page");
        assert_eq!(page.after, Some(id));
    }
}
