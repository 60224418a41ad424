//! Several queries at once on BigQuery (a dashboard refresh): concurrent jobs, the bytes they
//! billed, and one more small query for the newest event and the last minute's arrivals.

use anyhow::Result;
use futures_util::stream::{self, StreamExt};

use super::Gcp;
use crate::backend::{BatchAnswer, BatchQuery, Pulse};
use crate::output::Value;
use crate::plan::Plan;
use crate::sql::Rendered;

impl Gcp {
    pub async fn query_batch(
        &self,
        plan: &Plan,
        queries: &[BatchQuery<'_>],
        limit: Option<usize>,
    ) -> Result<BatchAnswer> {
        let pulse_query = pulse_sql(&self.project, plan);
        let runs = queries
            .iter()
            .map(|q| (q.rendered, q.params))
            .chain(pulse_query.iter().map(|r| (r, &[][..])));
        let answers: Vec<_> = stream::iter(runs.map(|(rendered, params)| async move {
            self.query_billed(rendered, params, limit).await
        }))
        .buffered(self.concurrency)
        .collect()
        .await;
        let mut billed: Option<u64> = None;
        let mut results = Vec::with_capacity(queries.len());
        let mut pulse = Pulse::default();
        for (i, answer) in answers.into_iter().enumerate() {
            let answer = answer.map(|(result, bytes)| {
                if let Some(b) = bytes {
                    billed = Some(billed.unwrap_or(0) + b);
                }
                result
            });
            if i < queries.len() {
                results.push(answer.map_err(|e| crate::error::describe(&e)));
            } else {
                // Freshness is a nicety: without it the panels still show.
                match answer {
                    Ok(result) => pulse = read_pulse(&result),
                    Err(e) => tracing::info!(
                        "reading the newest event failed: {}",
                        crate::error::describe(&e)
                    ),
                }
            }
        }
        Ok(BatchAnswer {
            results,
            // Every job ran: no figure reported means the service keeps none (an emulator).
            bytes_billed: billed,
            pulse,
        })
    }

    /// Bytes the batch (and its freshness query) would process, from concurrent dry runs.
    pub async fn estimate_batch(&self, plan: &Plan, queries: &[BatchQuery<'_>]) -> Result<u64> {
        let pulse_query = pulse_sql(&self.project, plan);
        let runs = queries
            .iter()
            .map(|q| (q.rendered, q.params))
            .chain(pulse_query.iter().map(|r| (r, &[][..])));
        let estimates: Vec<Result<(u64, f64)>> =
            stream::iter(runs.map(|(rendered, params)| self.dry_run(rendered, params)))
                .buffered(self.concurrency)
                .collect()
                .await;
        let mut total = 0u64;
        for e in estimates {
            total = total.saturating_add(e?.0);
        }
        Ok(total)
    }
}

/// Newest event time and events within the last minute, over every table a pipeline fills.
fn pulse_sql(project: &str, plan: &Plan) -> Option<Rendered> {
    let sources: Vec<String> = plan
        .event_times()
        .into_iter()
        .map(|(dataset, table, column)| {
            format!("SELECT `{column}` AS t FROM `{project}.{dataset}.{table}`")
        })
        .collect();
    if sources.is_empty() {
        return None;
    }
    Some(Rendered {
        sql: format!(
            "SELECT UNIX_MICROS(MAX(t)) AS newest, \
             COUNTIF(t >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 60 SECOND)) AS last_minute \
             FROM ({})",
            sources.join(" UNION ALL ")
        ),
        refs: vec![],
        params: vec![],
    })
}

fn read_pulse(result: &crate::output::QueryResult) -> Pulse {
    let cell = |i: usize| match result.rows.first().map(|r| &r[i]) {
        Some(Value::Int(n)) => Some(*n),
        _ => None,
    };
    Pulse {
        newest: cell(0),
        last_minute: cell(1).map(|n| n.max(0) as u64),
        backlog: None,
    }
}
