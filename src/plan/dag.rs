//! Runs steps concurrently in dependency order: a step starts as soon as every step it depends
//! on has succeeded; if one fails, its dependents are skipped (never half-built on a missing
//! parent). `up` applies plans with it; teardown runs fixed phases instead (`gcp/teardown.rs`).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::ResourceId;

pub struct Step<T> {
    pub id: ResourceId,
    /// Steps (by id) that must succeed first; ids not among the steps count as done.
    pub deps: Vec<ResourceId>,
    pub item: T,
}

#[derive(Debug)]
pub enum Outcome {
    /// Finished; the text says what was done ("created", "updated labels").
    Done(String, Duration),
    Failed(anyhow::Error),
    /// Not attempted because a dependency failed.
    Skipped(ResourceId),
}

/// Observer of step progress (the CLI draws spinners and result lines from these).
pub trait Progress {
    fn started(&self, id: &ResourceId);
    fn finished(&self, id: &ResourceId, outcome: &Outcome);
}

/// Runs all steps, at most `concurrency` at a time; returns each step's outcome in input order.
pub async fn run<T, F, Fut>(
    steps: Vec<Step<T>>,
    concurrency: usize,
    progress: &dyn Progress,
    work: F,
) -> Vec<(ResourceId, Outcome)>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = anyhow::Result<String>>,
{
    let order: Vec<ResourceId> = steps.iter().map(|s| s.id.clone()).collect();
    let known: HashSet<ResourceId> = order.iter().cloned().collect();
    let mut waiting: Vec<Step<T>> = steps
        .into_iter()
        .map(|mut s| {
            s.deps.retain(|d| known.contains(d) && *d != s.id);
            s
        })
        .collect();
    let mut outcomes: HashMap<ResourceId, Outcome> = HashMap::new();
    let mut running = FuturesUnordered::new();

    loop {
        // Skip steps whose dependency failed or was skipped, then start every ready one.
        let mut i = 0;
        while i < waiting.len() {
            let blocked_by = waiting[i].deps.iter().find(|d| {
                matches!(
                    outcomes.get(*d),
                    Some(Outcome::Failed(_) | Outcome::Skipped(_))
                )
            });
            if let Some(dep) = blocked_by.cloned() {
                let step = waiting.remove(i);
                let outcome = Outcome::Skipped(dep);
                progress.finished(&step.id, &outcome);
                outcomes.insert(step.id, outcome);
                continue;
            }
            let ready = waiting[i]
                .deps
                .iter()
                .all(|d| matches!(outcomes.get(d), Some(Outcome::Done(..))));
            if ready && running.len() < concurrency.max(1) {
                let step = waiting.remove(i);
                progress.started(&step.id);
                let fut = work(step.item);
                let id = step.id;
                running.push(async move {
                    let start = Instant::now();
                    let result = fut.await;
                    (id, result, start.elapsed())
                });
                continue;
            }
            i += 1;
        }
        let Some((id, result, took)) = running.next().await else {
            break;
        };
        let outcome = match result {
            Ok(what) => Outcome::Done(what, took),
            Err(e) => Outcome::Failed(e),
        };
        progress.finished(&id, &outcome);
        outcomes.insert(id, outcome);
    }
    // Anything left waits on a cycle; report rather than hang (the plan rejects cycles first).
    for step in waiting {
        outcomes.insert(
            step.id,
            Outcome::Failed(anyhow::anyhow!("dependency cycle")),
        );
    }
    order
        .into_iter()
        .map(|id| {
            let outcome = outcomes.remove(&id).expect("every step has an outcome");
            (id, outcome)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Kind;
    use std::sync::Mutex;

    struct Log(Mutex<Vec<String>>);
    impl Progress for Log {
        fn started(&self, id: &ResourceId) {
            self.0.lock().unwrap().push(format!("start {}", id.name));
        }
        fn finished(&self, id: &ResourceId, _: &Outcome) {
            self.0.lock().unwrap().push(format!("end {}", id.name));
        }
    }

    fn step(name: &str, deps: &[&str]) -> Step<String> {
        let id = |n: &str| ResourceId {
            kind: Kind::Table,
            name: n.into(),
        };
        Step {
            id: id(name),
            deps: deps.iter().map(|d| id(d)).collect(),
            item: name.into(),
        }
    }

    #[tokio::test]
    async fn dependents_wait_and_failures_skip_their_dependents() {
        let log = Log(Mutex::new(vec![]));
        let steps = vec![
            step("view", &["table"]),
            step("table", &["dataset"]),
            step("dataset", &[]),
            step("bad", &[]),
            step("after-bad", &["bad"]),
        ];
        let out = run(steps, 4, &log, |name: String| async move {
            if name == "bad" {
                anyhow::bail!("boom")
            } else {
                Ok(name)
            }
        })
        .await;
        let log = log.0.into_inner().unwrap();
        let pos = |s: &str| log.iter().position(|l| l == s).unwrap();
        assert!(pos("end dataset") < pos("start table"));
        assert!(pos("end table") < pos("start view"));
        assert!(matches!(out[4].1, Outcome::Skipped(_)));
        assert!(matches!(out[3].1, Outcome::Failed(_)));
        assert!(matches!(out[0].1, Outcome::Done(..)));
    }

    #[tokio::test]
    async fn independent_steps_run_concurrently() {
        let log = Log(Mutex::new(vec![]));
        let steps = vec![step("a", &[]), step("b", &[]), step("c", &[])];
        run(steps, 3, &log, |_| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(String::new())
        })
        .await;
        let log = log.0.into_inner().unwrap();
        // All three start before the first one ends.
        assert_eq!(&log[..3], ["start a", "start b", "start c"]);
    }
}
