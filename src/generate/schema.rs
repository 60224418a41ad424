//! The fields of what the generator produces: the two event streams and the two dimensions.
//! The spec is checked against these, so a table fed by the generator cannot silently
//! dead-letter every event because a column is missing or typed differently.

use crate::spec::types::ColumnType::{self, *};

/// A field the generator always writes, and the column types that can hold it.
pub struct Field {
    pub name: &'static str,
    pub accepts: &'static [ColumnType],
}

const fn field(name: &'static str, accepts: &'static [ColumnType]) -> Field {
    Field { name, accepts }
}

const TEXT: &[ColumnType] = &[STRING];
const WHOLE: &[ColumnType] = &[INT64, NUMERIC, FLOAT64];
const MONEY: &[ColumnType] = &[NUMERIC, FLOAT64];
const TIME: &[ColumnType] = &[TIMESTAMP];

/// One sale line: `sales_fact`.
pub const SALE: &[Field] = &[
    field("transaction_id", TEXT),
    field("product_id", TEXT),
    field("timestamp", TIME),
    field("quantity", WHOLE),
    field("unit_price", MONEY),
    field("store_id", TEXT),
];

/// One stock movement: `inventory_fact`. `reason` is `opening`, `sale`, `restock` or
/// `stockout` (a sale that found the shelf empty; quantity_change 0).
pub const INVENTORY: &[Field] = &[
    field("event_id", TEXT),
    field("product_id", TEXT),
    field("timestamp", TIME),
    field("quantity_change", WHOLE),
    field("store_id", TEXT),
    field("reason", TEXT),
];

/// `products_dim`.
pub const PRODUCT: &[Field] = &[
    field("product_id", TEXT),
    field("name", TEXT),
    field("category", TEXT),
    field("subcategory", TEXT),
    field("price", MONEY),
    field("supplier_id", TEXT),
    field("is_doorbuster", &[BOOL]),
];

/// `stores_dim`. `utc_offset_minutes` lets views compute local time identically on BigQuery and
/// on DuckDB (which, without the ICU extension, has no time-zone database).
pub const STORE: &[Field] = &[
    field("store_id", TEXT),
    field("location", TEXT),
    field("region", TEXT),
    field("timezone", TEXT),
    field("utc_offset_minutes", WHOLE),
    field("size", TEXT),
    field("manager", TEXT),
    field("opening_hour", WHOLE),
];
