//! How a table's columns differ, by name. Both loaders write by column name (the local one
//! through a named appender, Dataflow and BigQuery subscriptions by JSON field), so the order
//! of columns in the spec does not matter; what does is a column that appears, goes, or changes
//! type or mode. Only the first can be applied to a table with rows in it: BigQuery (and the
//! local loader) accept a new NULLABLE column, nothing else.

use super::diff::FieldChange;

/// One top-level column of `columns_text`: its name and its whole text.
fn entries(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'(' | b'<' => depth += 1,
            b')' | b'>' => depth -= 1,
            b',' if depth == 0 => {
                out.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(text[start..].trim());
    out.into_iter()
        .filter(|e| !e.is_empty())
        .map(|e| (e.split_whitespace().next().unwrap_or(e), e))
        .collect()
}

/// The differences between two `columns_text` values, column by column.
#[derive(Debug, Default, PartialEq)]
pub struct ColumnsDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// (was, now) for a column whose type or mode changed.
    pub changed: Vec<(String, String)>,
}

impl ColumnsDiff {
    pub fn between(from: &str, to: &str) -> ColumnsDiff {
        let (old, new) = (entries(from), entries(to));
        let mut diff = ColumnsDiff::default();
        for (name, text) in &new {
            match old.iter().find(|(n, _)| n == name) {
                None => diff.added.push(text.to_string()),
                Some((_, was)) if was != text => {
                    diff.changed.push((was.to_string(), text.to_string()))
                }
                Some(_) => {}
            }
        }
        for (name, text) in &old {
            if !new.iter().any(|(n, _)| n == name) {
                diff.removed.push(text.to_string());
            }
        }
        diff
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// Whether the table can take this change with its rows in place: new NULLABLE columns
    /// only (a REQUIRED one would have no value in the existing rows).
    pub fn additive(&self) -> bool {
        self.removed.is_empty()
            && self.changed.is_empty()
            && self
                .added
                .iter()
                .all(|c| !c.ends_with(" REQUIRED") && !c.ends_with(" REPEATED"))
    }

    /// One line per column, for `plan`: `column: (none) → note STRING`.
    pub fn field_changes(&self) -> Vec<FieldChange> {
        let line = |from: &str, to: &str| FieldChange {
            field: "column",
            from: from.to_string(),
            to: to.to_string(),
        };
        let mut out = Vec::new();
        out.extend(self.changed.iter().map(|(a, b)| line(a, b)));
        out.extend(self.removed.iter().map(|c| line(c, "")));
        out.extend(self.added.iter().map(|c| line("", c)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_alone_is_no_difference() {
        let d = ColumnsDiff::between("a STRING, b STRING", "b STRING, a STRING");
        assert!(d.is_empty());
    }

    #[test]
    fn a_new_nullable_column_anywhere_is_additive() {
        let d = ColumnsDiff::between("a STRING, b INT64", "a STRING, n NUMERIC(18, 2), b INT64");
        assert_eq!(d.added, vec!["n NUMERIC(18, 2)"]);
        assert!(d.additive());
        let required = ColumnsDiff::between("a STRING", "a STRING, n INT64 REQUIRED");
        assert!(!required.additive());
    }

    #[test]
    fn removed_and_retyped_columns_are_named() {
        let d = ColumnsDiff::between(
            "a STRING REQUIRED, b INT64, attributes RECORD<key STRING, value STRING> REPEATED",
            "a INT64 REQUIRED, attributes RECORD<key STRING, value STRING> REPEATED",
        );
        assert_eq!(
            d.changed,
            vec![("a STRING REQUIRED".into(), "a INT64 REQUIRED".into())]
        );
        assert_eq!(d.removed, vec!["b INT64"]);
        assert!(!d.additive());
        let lines = d.field_changes();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (lines[1].from.as_str(), lines[1].to.as_str()),
            ("b INT64", "")
        );
    }

    #[test]
    fn a_relaxed_mode_is_a_change() {
        let d = ColumnsDiff::between("a STRING REQUIRED", "a STRING");
        assert_eq!(d.changed.len(), 1);
        assert!(!d.additive());
    }
}
