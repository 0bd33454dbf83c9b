//! The tickets table: listings (`ticket#<id>`) and the holds orders placed on them
//! (`hold#<order id>`, one per order, whose state machine makes the order events idempotent).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use shared::dynamo::{self, PK, Table, TablePrefix, TableSpec};
use shared::error::ApiError;
use shared::paging::{self, IndexQuery, Listed, Page};

use crate::listing::{LISTED, TicketItem, TicketRequest, key};

pub const TABLE: TableSpec = TableSpec {
    name: "tickets",
    sort_key: false,
    index: true,
};

#[derive(Clone)]
pub struct Tickets(Table);

impl std::ops::Deref for Tickets {
    type Target = Table;

    fn deref(&self) -> &Table {
        &self.0
    }
}

impl Tickets {
    pub fn new(client: Client, prefix: &TablePrefix) -> Self {
        Self(Table::new(client, prefix, &TABLE))
    }

    pub async fn get(&self, id: &str) -> Result<Option<TicketItem>, ApiError> {
        self.0.get(key(id)).await
    }

    /// The put of a new listing.
    pub fn insert(&self, ticket: &TicketItem) -> Result<TransactWriteItem, ApiError> {
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(dynamo::item_of(ticket)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The update of a listing's terms, applied only on top of the version it was read at, while
    /// nothing is held, and not below what is sold.
    pub fn revise(
        &self,
        current: &TicketItem,
        request: &TicketRequest,
    ) -> Result<TransactWriteItem, ApiError> {
        let update = Update::builder()
            .table_name(self.table())
            .key(PK, dynamo::s(key(&current.id)))
            .update_expression(
                "SET title = :title, price = :price, quantity = :quantity, \
                 available = :quantity - sold, version = :next",
            )
            .condition_expression("version = :version AND held = :zero AND sold <= :quantity")
            .expression_attribute_values(":title", dynamo::s(request.title.clone()))
            .expression_attribute_values(":price", dynamo::n(request.price))
            .expression_attribute_values(":quantity", dynamo::n(request.quantity))
            .expression_attribute_values(":version", dynamo::n(current.version))
            .expression_attribute_values(":next", dynamo::n(current.version + 1))
            .expression_attribute_values(":zero", dynamo::n(0))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Listings with tickets left, oldest first.
    pub async fn list_available(&self, page: &Page) -> Result<Listed, ApiError> {
        let query = IndexQuery {
            table: self.table(),
            partition: LISTED.to_owned(),
            key_prefix: "ticket#",
            newest_first: false,
            filter: Some(("available > :zero", vec![(":zero", dynamo::n(0))])),
        };
        paging::list(self.client(), &query, page).await
    }
}
