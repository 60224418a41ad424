//! Several queries in one warehouse session (a dashboard refresh): one open, one bounded load,
//! every query, and the freshness figures — then the warehouse is let go for the loader.

use std::time::Duration;

use anyhow::Result;

use super::warehouse::{META, Warehouse};
use super::{Local, run_query, use_dataset};
use crate::backend::{BatchAnswer, BatchQuery, Pulse};
use crate::plan::Plan;

impl Local {
    pub fn query_batch(
        &self,
        plan: &Plan,
        queries: &[BatchQuery<'_>],
        limit: Option<usize>,
        wait: Duration,
    ) -> Result<BatchAnswer> {
        let wh = Warehouse::open_within(&self.root, false, wait)?;
        let load = self.load(&wh, plan)?;
        use_dataset(&wh, plan)?;
        let results = queries
            .iter()
            .map(|q| {
                run_query(&wh, q.rendered, q.params)
                    .map(|mut r| {
                        if let Some(limit) = limit {
                            r.rows.truncate(limit);
                        }
                        r
                    })
                    .map_err(|e| crate::error::describe(&e))
            })
            .collect();
        let mut pulse = pulse(&wh, plan)?;
        pulse.backlog = Some(load.left);
        Ok(BatchAnswer {
            results,
            bytes_billed: None,
            pulse,
        })
    }
}

/// The newest event time over the pipelines' tables, and the events loaded in the last minute
/// (from the loader's own records, so it is the arrival rate whatever clock the events use).
fn pulse(wh: &Warehouse, plan: &Plan) -> Result<Pulse> {
    let mut newest: Option<i64> = None;
    for (dataset, table, column) in plan.event_times() {
        let t: Option<i64> = wh.conn.query_row(
            &format!("SELECT epoch_us(max(\"{column}\")) FROM \"{dataset}\".\"{table}\""),
            [],
            |r| r.get(0),
        )?;
        newest = newest.max(t);
    }
    let since = chrono::Utc::now().timestamp_micros() - 60_000_000;
    let last_minute: i64 = wh.conn.query_row(
        &format!(
            "SELECT coalesce(sum(loaded + dead_lettered), 0)::BIGINT FROM {META}.consumed WHERE loaded_at >= make_timestamp(?)"
        ),
        [since],
        |r| r.get(0),
    )?;
    Ok(Pulse {
        newest,
        last_minute: Some(last_minute.max(0) as u64),
        backlog: None,
    })
}
