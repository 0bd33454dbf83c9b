//! The pieces every ticketing function is built from.
//!
//! A function binary reads its settings with [`config`], builds an `axum::Router` from its context's
//! library, and hands it to [`runtime::serve`]. Handlers return [`error::ApiError`] for every failure,
//! take bodies through [`json::JsonBody`] and sessions through [`session`] extractors, and talk to
//! DynamoDB through [`dynamo`].

pub mod config;
pub mod dynamo;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod json;
pub mod money;
pub mod outbox;
pub mod paging;
pub mod publisher;
pub mod routing;
pub mod runtime;
pub mod session;
pub mod telemetry;
pub mod time;
pub mod validation;

#[cfg(feature = "testing")]
pub mod testing;
