//! A table's real shape, read from DuckDB's `information_schema` rather than from what bqflow
//! recorded: `plan` compares the spec with it, and the loader refuses to write into a table
//! whose columns no longer fit the spec (the events wait in the topic log until they do).

use anyhow::Result;

use super::warehouse::Warehouse;
use crate::plan::{ColumnDef, TableDef, columns_text};

/// A column as the warehouse has it.
#[derive(Clone, Debug, PartialEq)]
pub struct Actual {
    pub name: String,
    pub duckdb_type: String,
    pub nullable: bool,
}

/// The table's columns in order; empty when it does not exist.
pub fn actual(wh: &Warehouse, dataset: &str, table: &str) -> Result<Vec<Actual>> {
    let mut stmt = wh.conn.prepare(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns
         WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
    )?;
    let columns = stmt
        .query_map([dataset, table], |row| {
            Ok(Actual {
                name: row.get(0)?,
                duckdb_type: row.get(1)?,
                nullable: row.get::<_, String>(2)? == "YES",
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(columns)
}

/// DuckDB spells a type one way in `information_schema` (`DECIMAL(18,2)`,
/// `STRUCT("key" VARCHAR, …)[]`) and bqflow another (`DECIMAL(18, 2)`): compare them bare.
fn same_type(a: &str, b: &str) -> bool {
    let bare = |t: &str| {
        t.chars()
            .filter(|c| !c.is_whitespace() && *c != '"')
            .flat_map(char::to_uppercase)
            .collect::<String>()
    };
    bare(a) == bare(b)
}

/// The BigQuery notation of a DuckDB type the spec does not declare, for showing a difference.
fn bigquery_notation(duckdb_type: &str) -> String {
    let upper = duckdb_type.to_ascii_uppercase();
    if let Some(args) = upper.strip_prefix("DECIMAL(") {
        return format!("NUMERIC({}", args.replace(',', ", "));
    }
    match upper.as_str() {
        "VARCHAR" => "STRING",
        "BIGINT" => "INT64",
        "DOUBLE" => "FLOAT64",
        "BOOLEAN" => "BOOL",
        "BLOB" => "BYTES",
        _ => return upper,
    }
    .into()
}

/// The columns as `plan` shows them: in the spec's notation where a column matches the spec's
/// type, in the nearest BigQuery notation where it does not (so the difference reads plainly).
pub fn columns_as_planned(actual: &[Actual], desired: &TableDef) -> String {
    let columns: Vec<ColumnDef> = actual
        .iter()
        .map(|a| {
            let declared = desired
                .columns
                .iter()
                .find(|d| d.name == a.name && same_type(&d.duckdb_type, &a.duckdb_type));
            match declared {
                Some(d) => ColumnDef {
                    required: !a.nullable,
                    ..d.clone()
                },
                None => ColumnDef {
                    name: a.name.clone(),
                    bigquery_type: bigquery_notation(&a.duckdb_type),
                    duckdb_type: a.duckdb_type.clone(),
                    required: !a.nullable,
                    repeated: false,
                    description: None,
                    fields: vec![],
                },
            }
        })
        .collect();
    columns_text(&columns)
}

/// Why events for `desired` cannot be written into a table of shape `actual`, one reason per
/// column; empty when they can. Columns the spec no longer names are fine while NULLABLE (they
/// get NULL, as BigQuery gives them when Dataflow writes a row without the field).
pub fn misfits(actual: &[Actual], desired: &[ColumnDef]) -> Vec<String> {
    let mut out = Vec::new();
    for d in desired {
        match actual.iter().find(|a| a.name == d.name) {
            None => out.push(format!(
                "column `{}` is in the spec but not in the table (`bqflow up` adds it)",
                d.name
            )),
            Some(a) if !same_type(&a.duckdb_type, &d.duckdb_type) => out.push(format!(
                "column `{}` is {} in the table but {} in the spec",
                d.name,
                bigquery_notation(&a.duckdb_type),
                d.bigquery_type
            )),
            Some(a) if !a.nullable && !d.required => out.push(format!(
                "column `{}` is REQUIRED in the table but NULLABLE in the spec",
                d.name
            )),
            Some(_) => {}
        }
    }
    for a in actual.iter().filter(|a| !a.nullable) {
        if !desired.iter().any(|d| d.name == a.name) {
            out.push(format!(
                "column `{}` is REQUIRED in the table but no longer in the spec",
                a.name
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warehouse() -> (tempfile::TempDir, Warehouse) {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::open(dir.path(), true).unwrap();
        wh.conn
            .execute_batch(
                "CREATE SCHEMA d;
                 CREATE TABLE d.t (id VARCHAR NOT NULL, price DECIMAL(18, 2), tags STRUCT(key VARCHAR, value VARCHAR)[]);",
            )
            .unwrap();
        (dir, wh)
    }

    fn column(name: &str, bq: &str, duck: &str, required: bool) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            bigquery_type: bq.into(),
            duckdb_type: duck.into(),
            required,
            repeated: false,
            description: None,
            fields: vec![],
        }
    }

    #[test]
    fn the_spec_and_duckdb_spellings_of_a_type_match() {
        let (_dir, wh) = warehouse();
        let actual = actual(&wh, "d", "t").unwrap();
        let spec = [
            column("id", "STRING", "VARCHAR", true),
            column("price", "NUMERIC(18, 2)", "DECIMAL(18, 2)", false),
            column(
                "tags",
                "RECORD",
                "STRUCT(key VARCHAR, value VARCHAR)[]",
                false,
            ),
        ];
        assert_eq!(misfits(&actual, &spec), Vec::<String>::new());
    }

    #[test]
    fn a_retyped_missing_or_orphaned_required_column_is_a_misfit() {
        let (_dir, wh) = warehouse();
        let actual = actual(&wh, "d", "t").unwrap();
        let spec = [
            column("price", "STRING", "VARCHAR", false),
            column("note", "STRING", "VARCHAR", false),
        ];
        let found = misfits(&actual, &spec);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].contains("`price` is NUMERIC(18, 2) in the table but STRING"));
        assert!(found[1].contains("`note` is in the spec but not in the table"));
        assert!(found[2].contains("`id` is REQUIRED in the table but no longer in the spec"));
    }
}
