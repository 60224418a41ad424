//! The spec's SQL checked by a real engine before anything is provisioned: with the `duckdb`
//! feature, DuckDB itself over an in-memory copy of the plan's tables and views
//! (`local/check.rs`); without it, rendering is all `validate` can check. Callers never ask
//! which: they get `None` when no engine is built in.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::plan::Plan;
use crate::sql::params::ParamValue;

/// A query to check: its name, SQL, and a value per parameter (`None` binds NULL).
pub struct Checked {
    pub name: String,
    pub sql: String,
    pub params: Vec<Option<ParamValue>>,
}

/// Result columns per query: (name, BigQuery-style type name).
pub type Columns = BTreeMap<String, Vec<(String, &'static str)>>;

/// A problem the engine found: (kind, name, its message).
pub type Problem = (&'static str, String, String);

/// The views of `plan` created and `queries` run over empty tables: the problems found and the
/// result columns of the queries that ran, or `None` when this build has no engine to ask.
pub fn check_sql(plan: &Plan, queries: &[Checked]) -> Result<Option<(Vec<Problem>, Columns)>> {
    #[cfg(feature = "duckdb")]
    return super::local::check::check_sql(plan, queries).map(Some);
    #[cfg(not(feature = "duckdb"))]
    {
        let _ = (plan, queries);
        Ok(None)
    }
}
