//! What the API returns, as the contract crate defines it (the same types the functions answer
//! with), and what the storefront decides from it.

pub use contract::api::{
    OrderBody as Order, PaymentBody as Payment, TicketBody as Ticket, UserBody as User,
};
pub use contract::passes::{PassBody as Pass, PassStatus};
pub use contract::{OrderStatus, PaymentStatus};

/// Still waiting for money: the only state in which the order page offers the card form.
pub fn is_payable(order: &Order) -> bool {
    order.status == OrderStatus::Created
}

/// A state the back end will move on from by itself (payment or expiry still to come).
pub fn is_settling(order: &Order) -> bool {
    order.status.is_open()
}
