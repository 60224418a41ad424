//! Teardown on the local target: bqflow's topic folders, and the tables and views it recorded
//! making in this spec's dataset (`_bqflow.resources`). A table someone else added to the
//! warehouse stays, and so does the warehouse file then; only when nothing but bqflow's own
//! relations is in it does the whole file go.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::topic_log::{self, TopicLog};
use super::warehouse::{self, META};
use super::{Local, cursor};
use crate::backend::{DEMO_MARK, GENERATE_LOCK, TeardownReport};
use crate::plan::{Desired, Plan};

/// What teardown will delete, found before anything is touched.
#[derive(Default)]
pub struct Found {
    topics: Vec<String>,
    /// (dataset, name) of bqflow's tables and of its views.
    tables: Vec<(String, String)>,
    views: Vec<(String, String)>,
    /// The spec's dataset, dropped when nothing else is in it.
    dataset: Option<String>,
    /// The warehouse holds nothing else: delete the file.
    whole_file: Option<PathBuf>,
    /// Bookkeeping of this deployment to forget when the file stays: its subscriptions'
    /// consumption records, and the records of every resource of the plan (kind, name).
    subscriptions: Vec<String>,
    records: Vec<(String, String)>,
    pub left_alone: Vec<String>,
}

impl Found {
    pub fn groups(&self) -> Vec<(&'static str, Vec<String>)> {
        let names = |r: &[(String, String)]| r.iter().map(|(d, n)| format!("{d}.{n}")).collect();
        [
            ("topic folders, with their events", self.topics.clone()),
            ("tables, with their rows", names(&self.tables)),
            ("views", names(&self.views)),
            (
                "the warehouse file",
                self.whole_file
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
            ),
        ]
        .into_iter()
        .filter(|(_, items)| !items.is_empty())
        .collect()
    }
}

impl Local {
    pub fn find(&self, plan: &Plan) -> Result<Found> {
        let mut found = Found {
            topics: self.topics_to_delete(plan),
            ..Found::default()
        };
        let dataset = plan.resources.iter().find_map(|r| match &r.desired {
            Desired::Dataset(d) => Some(d.name.clone()),
            _ => None,
        });
        found.subscriptions = plan
            .resources
            .iter()
            .filter_map(|r| match &r.desired {
                Desired::Subscription(s) => Some(s.name.clone()),
                _ => None,
            })
            .collect();
        found.records = plan
            .resources
            .iter()
            .map(|r| (r.id.kind.noun().to_string(), r.id.name.clone()))
            .collect();
        if !self.provisioned() {
            return Ok(found);
        }
        let wh = self.open(false)?;
        // Relations bqflow recorded making, in this spec's dataset (renamed ones included).
        let mut recorded = wh.conn.prepare(&format!(
            "SELECT r.kind, t.table_schema, t.table_name FROM {META}.resources r
             JOIN information_schema.tables t ON r.name = t.table_schema || '.' || t.table_name
             WHERE r.kind IN ('table', 'view', 'materialized view') AND t.table_schema = ?"
        ))?;
        let ours: Vec<(String, String, String)> = recorded
            .query_map([dataset.as_deref().unwrap_or_default()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut others = wh.conn.prepare(
            "SELECT table_schema, table_name FROM information_schema.tables
             WHERE table_schema <> ? ORDER BY 1, 2",
        )?;
        let theirs: Vec<(String, String)> = others
            .query_map([META], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<(String, String)>, _>>()?
            .into_iter()
            .filter(|(d, n)| !ours.iter().any(|(_, od, on)| od == d && on == n))
            .collect();
        for (kind, d, n) in ours {
            if kind == "view" {
                found.views.push((d, n));
            } else {
                found.tables.push((d, n));
            }
        }
        if theirs.is_empty() {
            found.whole_file = Some(warehouse::path_in(&self.root));
        } else {
            let names: Vec<String> = theirs.iter().map(|(d, n)| format!("{d}.{n}")).collect();
            found.left_alone.push(format!(
                "warehouse {}: also holds {} bqflow did not create ({}); kept, with them",
                warehouse::path_in(&self.root).display(),
                if names.len() == 1 {
                    "1 table or view".to_string()
                } else {
                    format!("{} tables or views", names.len())
                },
                names.join(", ")
            ));
            if !theirs.iter().any(|(d, _)| Some(d) == dataset.as_ref()) {
                found.dataset = dataset;
            }
        }
        Ok(found)
    }

    /// The spec's topic folders, and folders left by renamed topics (recognised by holding
    /// nothing but bqflow segments): a folder of the user's is never taken.
    fn topics_to_delete(&self, plan: &Plan) -> Vec<String> {
        let mut topics: Vec<String> = plan
            .resources
            .iter()
            .filter_map(|r| match &r.desired {
                Desired::Topic(t) => Some(t.name.clone()),
                _ => None,
            })
            .filter(|t| TopicLog::dir_for(&self.root, t).is_dir())
            .collect();
        if let Ok(entries) = std::fs::read_dir(self.root.join("topics")) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !topics.contains(&name) && topic_log::holds_only_segments(&entry.path()) {
                    topics.push(name);
                }
            }
        }
        topics
    }

    pub fn remove(&self, found: Found) -> Result<TeardownReport> {
        let mut deleted = Vec::new();
        for topic in &found.topics {
            let dir = TopicLog::dir_for(&self.root, topic);
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            deleted.push(format!("topic {topic}"));
        }
        let _ = std::fs::remove_dir(self.root.join("topics"));
        if let Some(db) = &found.whole_file {
            for file in [db.clone(), db.with_extension("duckdb.wal")] {
                if file.exists() {
                    std::fs::remove_file(&file)
                        .with_context(|| format!("removing {}", file.display()))?;
                }
            }
            deleted.push(format!("warehouse {}", db.display()));
            let _ = std::fs::remove_file(self.root.join(cursor::CURSOR_FILE));
        } else if self.provisioned() {
            deleted.extend(self.drop_relations(&found)?);
        }
        let _ = std::fs::remove_file(self.root.join(GENERATE_LOCK));
        let _ = std::fs::remove_file(self.root.join(DEMO_MARK));
        let _ = std::fs::remove_dir(&self.root);
        Ok(TeardownReport {
            deleted,
            left_alone: found.left_alone,
            failed: vec![],
        })
    }

    /// Drops bqflow's relations from a warehouse that also holds someone else's, and forgets
    /// this deployment's bookkeeping, in one transaction.
    fn drop_relations(&self, found: &Found) -> Result<Vec<String>> {
        let wh = self.open(false)?;
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let mut deleted = Vec::new();
        wh.transaction(|conn| {
            for (kind, list) in [("VIEW", &found.views), ("TABLE", &found.tables)] {
                for (d, n) in list {
                    conn.execute_batch(&format!(
                        "DROP {kind} IF EXISTS {}.{}",
                        quote(d),
                        quote(n)
                    ))?;
                    conn.execute(
                        &format!("DELETE FROM {META}.resources WHERE name = ?"),
                        [format!("{d}.{n}")],
                    )?;
                    deleted.push(format!("{} {d}.{n}", kind.to_lowercase()));
                }
            }
            if let Some(d) = &found.dataset {
                conn.execute_batch(&format!("DROP SCHEMA IF EXISTS {}", quote(d)))?;
                deleted.push(format!("dataset {d}"));
            }
            // The topics are gone: what was consumed from them and where generators stood.
            for s in &found.subscriptions {
                conn.execute(
                    &format!("DELETE FROM {META}.consumed WHERE subscription = ?"),
                    [s],
                )?;
            }
            for t in &found.topics {
                conn.execute(&format!("DELETE FROM {META}.cursor WHERE topic = ?"), [t])?;
            }
            // A dataset kept for someone's table stays bqflow's: its record stays too.
            let kept_dataset = found.dataset.is_none();
            for (kind, name) in &found.records {
                if kept_dataset && kind == "dataset" {
                    continue;
                }
                conn.execute(
                    &format!("DELETE FROM {META}.resources WHERE kind = ? AND name = ?"),
                    [kind, name],
                )?;
            }
            Ok(())
        })?;
        cursor::mirror(&wh, &self.root)?;
        Ok(deleted)
    }
}
