//! Which fields Google lets bqflow change in place. Everything else differs only by deleting
//! and recreating the resource, which `up` never does on its own: `plan` shows it as "cannot
//! change" with a hint. Sources: Pub/Sub `topics.patch` and `subscriptions.patch` (every
//! subscription field but its topic), BigQuery `datasets.patch` and `tables.patch` (clustering,
//! labels, description, a view's query; partitioning is fixed at creation; columns are handled
//! by `plan/columns.rs`), Cloud Storage `buckets.patch`, and Dataflow's pipeline update, which
//! replaces a running job with one of new worker settings, keeping its state — what it reads,
//! writes and runs needs a drain and a new job (docs/gcp-apis.md).

use crate::plan::Kind;

pub fn updatable_in_place(kind: Kind, field: &str) -> bool {
    match (kind, field) {
        (_, "labels" | "description") => true,
        (Kind::Topic, "message_retention") => true,
        (Kind::Subscription, f) => f != "topic",
        (Kind::Dataset, "default_table_expiration") => true,
        (Kind::Table, "clustering") => true,
        (Kind::View, "sql") => true,
        // tables.patch takes a materialized view's refresh settings; its query is fixed once
        // created.
        (Kind::MaterializedView, "enable_refresh" | "refresh_interval") => true,
        (Kind::Rows, _) => true,
        (Kind::Bucket, "lifecycle") => true,
        (Kind::Pipeline, "max_workers" | "machine_type") => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitioning_is_fixed_but_view_sql_is_not() {
        assert!(!updatable_in_place(Kind::Table, "partitioning"));
        assert!(updatable_in_place(Kind::View, "sql"));
        assert!(!updatable_in_place(Kind::Subscription, "topic"));
        assert!(updatable_in_place(Kind::Subscription, "ack_deadline"));
    }
}
