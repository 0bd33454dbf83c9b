//! Statuses with their wire strings. The same strings are stored in DynamoDB and compared in its
//! conditions, so [`OrderStatus::as_str`] and friends are what the stores put in expressions.

use serde::{Deserialize, Serialize};

/// An order's status (`api.md`, Orders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Holding tickets until `expiresAt`.
    #[serde(rename = "created")]
    Created,
    /// A payment needs the buyer's action (3-D Secure).
    #[serde(rename = "awaiting:payment")]
    AwaitingPayment,
    /// Paid.
    #[serde(rename = "complete")]
    Complete,
    /// By the buyer, by expiry, or refused.
    #[serde(rename = "cancelled")]
    Cancelled,
}

impl OrderStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::AwaitingPayment => "awaiting:payment",
            Self::Complete => "complete",
            Self::Cancelled => "cancelled",
        }
    }

    /// Still holding tickets: neither paid nor cancelled. The payment or the expiry is still to come.
    pub const fn is_open(self) -> bool {
        matches!(self, Self::Created | Self::AwaitingPayment)
    }
}

/// What `POST /api/payments` reports about the PaymentIntent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PaymentStatus {
    /// Paid (201).
    #[serde(rename = "succeeded")]
    Succeeded,
    /// The buyer must authenticate the payment with `clientSecret` (202).
    #[serde(rename = "requires_action")]
    RequiresAction,
}

impl PaymentStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::RequiresAction => "requires_action",
        }
    }
}

/// Where an order's hold on a listing is, as the tickets context counts it: none → held → released
/// or sold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HoldState {
    #[serde(rename = "held")]
    Held,
    #[serde(rename = "released")]
    Released,
    #[serde(rename = "sold")]
    Sold,
}

impl HoldState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Released => "released",
            Self::Sold => "sold",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_carry_the_contract_s_strings() {
        for status in [
            OrderStatus::Created,
            OrderStatus::AwaitingPayment,
            OrderStatus::Complete,
            OrderStatus::Cancelled,
        ] {
            let wire = serde_json::to_value(status).expect("json");
            assert_eq!(wire, status.as_str());
            assert_eq!(
                serde_json::from_value::<OrderStatus>(wire).expect("back"),
                status
            );
        }
        assert_eq!(
            serde_json::to_value(OrderStatus::AwaitingPayment).expect("json"),
            "awaiting:payment"
        );
        for status in [PaymentStatus::Succeeded, PaymentStatus::RequiresAction] {
            assert_eq!(serde_json::to_value(status).expect("json"), status.as_str());
        }
        for state in [HoldState::Held, HoldState::Released, HoldState::Sold] {
            assert_eq!(serde_json::to_value(state).expect("json"), state.as_str());
        }
    }

    #[test]
    fn an_unknown_status_is_refused() {
        assert!(serde_json::from_str::<OrderStatus>("\"paid\"").is_err());
    }
}
