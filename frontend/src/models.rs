//! What the API returns, as far as the storefront reads it.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct User {
    pub id: String,
    pub email: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentUser {
    pub current_user: Option<User>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub id: String,
    pub title: String,
    pub price: serde_json::Number,
    pub quantity: u32,
    pub available: u32,
    pub user_id: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct OrderTicket {
    pub id: String,
    pub title: String,
    pub price: serde_json::Number,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: String,
    pub status: String,
    pub expires_at: String,
    pub quantity: u32,
    pub ticket: OrderTicket,
    pub total: serde_json::Number,
}

impl Order {
    /// Still waiting for money: the only states in which the order page offers the card form.
    pub fn is_open(&self) -> bool {
        self.status == "created"
    }

    /// A state the back end will move on from by itself (payment or expiry still to come).
    pub fn is_settling(&self) -> bool {
        matches!(self.status.as_str(), "created" | "awaiting:payment")
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub status: String,
    #[serde(default)]
    pub client_secret: Option<String>,
}
