//! The contract between the functions, and between the API and its clients: every shape that
//! crosses a boundary, defined once.
//!
//! - [`events`]: each event's `type` and its payload (`events.md`), shared by the producer and every
//!   consumer, so renaming a field is a compile error on both sides rather than a dead letter.
//! - [`api`]: the HTTP request and response bodies of `api.md`, used by the functions that answer
//!   them and by the storefront that reads them.
//! - [`drops`] and [`passes`]: the waiting room's queue, and e-tickets with check-in and resale.
//! - [`status`], [`money`], [`ids`]: order, payment and hold statuses with their wire strings,
//!   [`Cents`] and [`Quantity`], and the id newtypes.
//!
//! Only `serde` and `serde_json`: the storefront compiles this crate to WebAssembly. The rules that
//! need more (canonical UUIDs, RFC 3339 times) are checked server-side, in `shared::validation`.

pub mod api;
pub mod drops;
pub mod events;
pub mod ids;
pub mod money;
pub mod passes;
pub mod status;

pub use ids::{OrderId, PaymentId, TicketId, UserId};
pub use money::{Cents, Quantity};
pub use status::{HoldState, OrderStatus, PaymentStatus};
