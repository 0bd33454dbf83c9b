//! The users table: one item per account, keyed by its lower-cased email so that uniqueness is a
//! condition on the key (`attribute_not_exists`), decided by DynamoDB, never by a read first.

use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};
use shared::dynamo::{self, PK, TablePrefix, TableSpec, aws_sdk_dynamodb};
use shared::error::ApiError;

use crate::attempts::Attempts;
use crate::credentials::Email;

pub const TABLE: TableSpec = TableSpec {
    name: "users",
    sort_key: false,
    index: false,
};

/// An account as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserItem {
    pub pk: String,
    /// Entity type, so that a scan of the table tells items apart.
    pub entity: String,
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: String,
}

impl UserItem {
    pub fn new(id: String, email: &Email, password_hash: String, created_at: String) -> Self {
        Self {
            pk: key(email),
            entity: "user".to_owned(),
            id,
            email: email.as_str().to_owned(),
            password_hash,
            created_at,
        }
    }
}

fn key(email: &Email) -> String {
    format!("email#{email}")
}

/// Outcome of adding an account.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    Created,
    EmailTaken,
}

#[derive(Clone)]
pub struct Users {
    client: Client,
    table: String,
}

impl Users {
    pub fn new(client: Client, prefix: &TablePrefix) -> Self {
        Self {
            client,
            table: prefix.table(&TABLE),
        }
    }

    /// Adds the account unless its email is taken; two racing sign-ups get one `Created`, and a
    /// write tried again after its first attempt landed unseen is still this account's `Created`.
    pub async fn add(&self, user: &UserItem) -> Result<Added, ApiError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(dynamo::item_of(user)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        match put {
            Ok(_) => Ok(Added::Created),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                // The SDK tries a write again when an attempt times out, and the first attempt may
                // have landed: then the account found is this very one (its id is new per
                // request), and the sign-up succeeded.
                let found: Option<UserItem> =
                    dynamo::get(&self.client, &self.table, user.pk.clone()).await?;
                Ok(match found {
                    Some(found) if found.id == user.id => Added::Created,
                    _ => Added::EmailTaken,
                })
            }
            Err(err) => Err(dynamo::sdk_error(err)),
        }
    }

    pub async fn find(&self, email: &Email) -> Result<Option<UserItem>, ApiError> {
        dynamo::get(&self.client, &self.table, key(email)).await
    }

    /// The sign-in attempt counters, kept in this table beside the accounts.
    pub fn attempts(&self) -> Attempts {
        Attempts::new(self.client.clone(), self.table.clone())
    }
}
