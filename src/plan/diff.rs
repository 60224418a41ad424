//! Desired versus observed, field by field: what `plan` prints and `up` applies. Fields the
//! service can change in place become an update; the others are reported, never ignored.

use std::fmt::Write;

use super::columns::ColumnsDiff;
use super::{Fields, Kind, Resource};

/// What a backend found for a resource.
#[derive(Clone, Debug)]
pub enum Observed {
    Missing,
    /// It exists; `owned` says whether it carries this project's ownership labels.
    Present {
        fields: Fields,
        owned: bool,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldChange {
    pub field: &'static str,
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Create,
    Update(Vec<FieldChange>),
    Unchanged,
    /// Differences the service cannot apply in place (e.g. a table's partitioning).
    CannotChange(Vec<FieldChange>),
    /// Such differences on a resource derived from others (a materialized view): `up` drops it
    /// and makes it again from its source tables, so nothing is lost.
    Replace(Vec<FieldChange>),
    /// Exists without this project's labels: bqflow leaves it alone.
    NotOwned,
}

#[derive(Clone, Debug)]
pub struct Change {
    pub resource: Resource,
    pub action: Action,
    /// Fields that can be patched but sit beside immutable differences (shown, not applied).
    pub also: Vec<FieldChange>,
}

/// Desired against observed. `updatable(kind, field)` says whether the target can change a
/// field in place (a table's columns are compared by `columns.rs`); the rest cannot change.
pub fn compare(
    resource: &Resource,
    observed: &Observed,
    updatable: &dyn Fn(Kind, &str) -> bool,
) -> Change {
    let Observed::Present { fields, owned } = observed else {
        return Change {
            resource: resource.clone(),
            action: Action::Create,
            also: vec![],
        };
    };
    if !owned {
        return Change {
            resource: resource.clone(),
            action: Action::NotOwned,
            also: vec![],
        };
    }
    let desired = resource.fields();
    let mut patchable = Vec::new();
    let mut fixed = Vec::new();
    for (field, to) in &desired {
        let from = fields.get(field).cloned().unwrap_or_default();
        if &from == to {
            continue;
        }
        // Columns are compared by name and shown one by one (`columns.rs`).
        if resource.id.kind == Kind::Table && *field == "columns" {
            let columns = ColumnsDiff::between(&from, to);
            if columns.additive() {
                patchable.extend(columns.field_changes());
            } else {
                fixed.extend(columns.field_changes());
            }
            continue;
        }
        let change = FieldChange {
            field,
            from,
            to: to.clone(),
        };
        if updatable(resource.id.kind, field) {
            patchable.push(change);
        } else {
            fixed.push(change);
        }
    }
    let (action, also) = match (fixed.is_empty(), patchable.is_empty()) {
        (true, true) => (Action::Unchanged, vec![]),
        (true, false) => (Action::Update(patchable), vec![]),
        (false, _) if resource.id.kind.is_derived() => (Action::Replace(fixed), patchable),
        (false, _) => (Action::CannotChange(fixed), patchable),
    };
    Change {
        resource: resource.clone(),
        action,
        also,
    }
}

/// Counts by action, for the summary line and `plan`'s exit code.
#[derive(Debug, Default, PartialEq)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub unchanged: usize,
    pub cannot_change: usize,
    pub not_owned: usize,
}

impl Summary {
    pub fn of(changes: &[Change]) -> Summary {
        let mut s = Summary::default();
        for c in changes {
            match c.action {
                Action::Create => s.create += 1,
                Action::Update(_) => s.update += 1,
                Action::Replace(_) => s.replace += 1,
                Action::Unchanged => s.unchanged += 1,
                Action::CannotChange(_) => s.cannot_change += 1,
                Action::NotOwned => s.not_owned += 1,
            }
        }
        s
    }

    pub fn pending(&self) -> bool {
        self.create + self.update + self.replace + self.cannot_change + self.not_owned > 0
    }

    pub fn line(&self) -> String {
        let replace = if self.replace > 0 {
            format!(", {} to replace", self.replace)
        } else {
            String::new()
        };
        format!(
            "{} to create, {} to update{replace}, {} unchanged, {} cannot change in place, {} not owned by bqflow",
            self.create, self.update, self.unchanged, self.cannot_change, self.not_owned
        )
    }
}

/// One value for display: long SQL is summarised, one-line values shown as they are.
fn shown(value: &str) -> String {
    let value = if value.is_empty() { "(none)" } else { value };
    if value.contains('\n') || value.len() > 100 {
        let first = value
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        let first: String = first.chars().take(60).collect();
        format!("{first} … ({} lines)", value.lines().count())
    } else {
        value.to_string()
    }
}

/// Of two label lists (`k=v,k=v`), only the entries that differ.
fn label_difference(from: &str, to: &str) -> (String, String) {
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .filter(|e| !e.is_empty())
            .map(String::from)
            .collect()
    };
    let (a, b) = (split(from), split(to));
    let only = |x: &[String], y: &[String]| {
        x.iter()
            .filter(|e| !y.contains(e))
            .cloned()
            .collect::<Vec<_>>()
            .join(",")
    };
    (only(&a, &b), only(&b, &a))
}

fn write_fields(out: &mut String, changes: &[FieldChange], verbose: bool) {
    for c in changes {
        if c.field == "labels" {
            let (from, to) = label_difference(&c.from, &c.to);
            let _ = writeln!(out, "      labels: {} → {}", shown(&from), shown(&to));
        } else if verbose && c.field == "sql" {
            let _ = writeln!(out, "      {}:", c.field);
            for line in line_diff(&c.from, &c.to) {
                let _ = writeln!(out, "        {line}");
            }
        } else {
            let _ = writeln!(
                out,
                "      {}: {} → {}",
                c.field,
                shown(&c.from),
                shown(&c.to)
            );
        }
    }
}

impl Action {
    /// The plan's mark and word for it: `+ create`, `~ update`…
    pub fn mark(&self) -> (&'static str, &'static str) {
        match self {
            Action::Create => ("+", "create"),
            Action::Update(_) => ("~", "update"),
            Action::Replace(_) => ("-/+", "replace"),
            Action::Unchanged => ("=", "unchanged"),
            Action::CannotChange(_) => ("!", "cannot change"),
            Action::NotOwned => ("?", "not owned"),
        }
    }

    pub fn verb(&self) -> &'static str {
        self.mark().1
    }
}

/// Renders the plan the way users read it in a pull request.
pub fn render(changes: &[Change], verbose: bool) -> String {
    let mut out = String::new();
    for c in changes {
        let (mark, word) = c.action.mark();
        let _ = writeln!(out, "{mark} {word:<13} {}", c.resource.id);
        match &c.action {
            Action::Update(f) => write_fields(&mut out, f, verbose),
            Action::Replace(f) => {
                write_fields(&mut out, f, verbose);
                write_fields(&mut out, &c.also, verbose);
                let _ = writeln!(
                    out,
                    "      (derived from its tables: `up` drops it and builds it again from them)"
                );
            }
            Action::CannotChange(f) => {
                write_fields(&mut out, f, verbose);
                write_fields(&mut out, &c.also, verbose);
                let hint = if c.resource.id.kind == Kind::Table {
                    "(a table with rows can only gain NULLABLE columns: keep the old column and add a new \
                     one, or give the table a new name in the spec to start a new one beside it; events \
                     wait in the topic, unloaded, until the table matches the spec again)"
                } else {
                    "(cannot be changed in place: `bqflow teardown` and `up` to recreate it)"
                };
                let _ = writeln!(out, "      {hint}");
            }
            Action::NotOwned => {
                let _ = writeln!(
                    out,
                    "      exists without this project's bqflow labels; bqflow will not touch it"
                );
            }
            _ => {}
        }
    }
    out
}

/// A minimal line diff (common prefix and suffix kept, middle shown as removed/added).
fn line_diff(from: &str, to: &str) -> Vec<String> {
    let a: Vec<&str> = from.lines().collect();
    let b: Vec<&str> = to.lines().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut out = Vec::new();
    out.extend(a[prefix..a.len() - suffix].iter().map(|l| format!("- {l}")));
    out.extend(b[prefix..b.len() - suffix].iter().map(|l| format!("+ {l}")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_diff_shows_only_the_changed_middle() {
        let d = line_diff("a\nb\nc", "a\nx\nc");
        assert_eq!(d, vec!["- b", "+ x"]);
    }
}
