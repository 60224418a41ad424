//! One refresh: every distinct query of the board run together on the target, each panel's
//! body drawn from its query's rows (or its error), and the figures for the header. On gcp a
//! refresh first asks BigQuery (dry runs) what it would process, and is refused, not run, when
//! that is over the dashboard's budget.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::board::Board;
use super::panel;
use crate::backend::{Backend, BatchQuery, Pulse};
use crate::output::QueryResult;
use crate::plan::Plan;

/// What one refresh produced, for the page and for an export.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Counts refreshes that ran; the page skips messages it already applied.
    pub version: u64,
    /// When the refresh finished (µs since the epoch).
    pub taken_at: i64,
    pub took: Duration,
    pub pulse: Pulse,
    pub billing: Option<Billing>,
    /// Why this refresh shows older panels, if it does.
    pub problem: Option<Problem>,
    pub panels: Vec<PanelView>,
}

#[derive(Clone, Debug, Default)]
pub struct Billing {
    /// Bytes billed by the refresh's jobs; `None` when the endpoint does not report it.
    pub billed: Option<u64>,
    /// Bytes the dry runs said the refresh would process.
    pub estimated: Option<u64>,
    pub budget: Option<u64>,
}

#[derive(Clone, Debug)]
pub enum Problem {
    /// Over the byte budget: nothing ran.
    Refused(String),
    /// Another process kept the local warehouse: nothing ran; the last panels stay.
    Busy(String),
    /// The whole batch failed (credentials, an unreachable endpoint…).
    Failed(String),
}

impl Problem {
    pub fn message(&self) -> &str {
        match self {
            Problem::Refused(m) | Problem::Busy(m) | Problem::Failed(m) => m,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct PanelView {
    pub id: String,
    pub body: String,
    pub failed: bool,
}

pub struct Refresher<'a> {
    pub board: &'a Board,
    backend: &'a Backend,
    plan: &'a Plan,
    /// Tile values at the last refresh, for "change since the last refresh".
    previous: HashMap<String, f64>,
    last: Snapshot,
}

impl<'a> Refresher<'a> {
    pub fn new(board: &'a Board, backend: &'a Backend, plan: &'a Plan) -> Refresher<'a> {
        let panels = board
            .panels
            .iter()
            .map(|p| PanelView {
                id: p.id.clone(),
                body: r#"<p class="note">loading…</p>"#.into(),
                failed: false,
            })
            .collect();
        Refresher {
            board,
            backend,
            plan,
            previous: HashMap::new(),
            last: Snapshot {
                panels,
                ..Snapshot::default()
            },
        }
    }

    pub async fn refresh(&mut self) -> Snapshot {
        let started = Instant::now();
        let queries: Vec<BatchQuery> = self
            .board
            .queries
            .iter()
            .map(|q| BatchQuery {
                rendered: &q.rendered,
                params: &q.params,
            })
            .collect();
        let mut billing = match self.within_budget(&queries).await {
            Ok(billing) => billing,
            Err((problem, billing)) => return self.keep_last(started, problem, billing),
        };
        let answer = self
            .backend
            .query_batch(self.plan, &queries, None, busy_wait(self.board.refresh))
            .await;
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                let problem = match busy_holder(&e) {
                    Some(holder) => Problem::Busy(format!(
                        "waiting for the local warehouse, in use by {holder}; these panels are from the last refresh"
                    )),
                    None => Problem::Failed(crate::error::describe(&e)),
                };
                return self.keep_last(started, problem, billing);
            }
        };
        if self.backend.billing_project().is_some() {
            let b = billing.get_or_insert_with(Billing::default);
            b.billed = answer.bytes_billed;
            b.budget = self.board.budget;
        }
        let panels = self.draw(&answer.results);
        self.last = Snapshot {
            version: self.last.version + 1,
            taken_at: chrono::Utc::now().timestamp_micros(),
            took: started.elapsed(),
            pulse: answer.pulse,
            billing,
            problem: None,
            panels,
        };
        self.last.clone()
    }

    /// With a byte budget, BigQuery's dry runs first: the estimate, or why the refresh is
    /// refused (over the budget, or no estimate to be had — nothing runs unchecked).
    async fn within_budget(
        &self,
        queries: &[BatchQuery<'_>],
    ) -> Result<Option<Billing>, (Problem, Option<Billing>)> {
        let Some(budget) = self.board.budget else {
            return Ok(None);
        };
        match self.backend.estimate_bytes(self.plan, queries).await {
            Ok(Some(estimated)) if estimated > budget => Err((
                Problem::Refused(format!(
                    "refresh refused: its queries would process {} (dry run), over the dashboard's budget of {} (max_bytes_per_refresh)",
                    super::format::bytes(estimated),
                    super::format::bytes(budget)
                )),
                Some(Billing {
                    billed: None,
                    estimated: Some(estimated),
                    budget: Some(budget),
                }),
            )),
            Ok(estimated) => Ok(estimated.map(|e| Billing {
                billed: None,
                estimated: Some(e),
                budget: Some(budget),
            })),
            Err(e) => Err((
                Problem::Refused(format!(
                    "refresh refused: its cost could not be estimated against the budget: {}",
                    crate::error::describe(&e)
                )),
                None,
            )),
        }
    }

    /// Each panel's body from its query's answer, or its error.
    fn draw(&mut self, results: &[Result<QueryResult, String>]) -> Vec<PanelView> {
        let mut panels = Vec::with_capacity(self.board.panels.len());
        for p in &self.board.panels {
            let query = &self.board.queries[p.query].name;
            let drawn = results[p.query]
                .as_ref()
                .map_err(String::clone)
                .and_then(|result| {
                    let body = panel::body(p, result, self.previous.get(&p.id).copied())?;
                    if let Some(v) = panel::tile_value(p, result) {
                        self.previous.insert(p.id.clone(), v);
                    }
                    Ok(body)
                });
            panels.push(match drawn {
                Ok(body) => PanelView {
                    id: p.id.clone(),
                    body,
                    failed: false,
                },
                Err(message) => PanelView {
                    id: p.id.clone(),
                    body: panel::error(query, &message),
                    failed: true,
                },
            });
        }
        panels
    }

    /// The last panels again, with the reason this refresh could not replace them.
    fn keep_last(
        &mut self,
        started: Instant,
        problem: Problem,
        billing: Option<Billing>,
    ) -> Snapshot {
        self.last = Snapshot {
            version: self.last.version + 1,
            taken_at: chrono::Utc::now().timestamp_micros(),
            took: started.elapsed(),
            pulse: self.last.pulse.clone(),
            billing,
            problem: Some(problem),
            panels: self.last.panels.clone(),
        };
        self.last.clone()
    }
}

/// How long a refresh waits for a local warehouse another process holds: long enough to get
/// in between a loader's bounded holds, short enough to say so in the header if it cannot.
fn busy_wait(refresh: Duration) -> Duration {
    refresh.clamp(Duration::from_secs(2), Duration::from_secs(10))
}

fn busy_holder(e: &anyhow::Error) -> Option<String> {
    e.downcast_ref::<crate::backend::Busy>()
        .map(|busy| busy.holder.clone())
}
