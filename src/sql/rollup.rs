//! Which SQL a materialized view may hold: an aggregate a target can keep up to date batch by
//! batch, without re-reading the table it summarises. BigQuery refreshes such views
//! incrementally; the local loader folds each loaded batch into them in the same transaction
//! (`backend/local/rollup.rs`). Both need the same shape, so `validate` checks it once, for
//! both dialects, with the reason when it does not hold (docs/materialized-views.md):
//!
//! ```sql
//! SELECT <key expressions>, SUM(..) | COUNT(..) | COUNTIF(..) | MIN(..) | MAX(..) AS name, ...
//! FROM <one table> [AS alias] [WHERE <row filter>]
//! GROUP BY <the keys>
//! ```
//!
//! The rendered SQL is parsed with `sqlparser`, in the dialect it was rendered for.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Function, FunctionArguments, GroupByExpr, Query, SelectItem, SetExpr, Spanned, Statement,
    TableFactor, Value, visit_expressions,
};
use sqlparser::dialect::{BigQueryDialect, DuckDbDialect, GenericDialect};
use sqlparser::parser::Parser;

use super::Dialect;
use crate::spec::located::Pos;

/// Where the local loader stages one batch of rows before appending it, so a materialized
/// view's SQL can be run over just that batch (its base table's `ref()` redirected here).
pub const BATCH_RELATION: &str = "temp.main._bqflow_batch";

/// How two partial values of a measure combine into one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// SUM, COUNT, COUNTIF: partial sums add up.
    Add,
    Min,
    Max,
}

/// The shape of a valid materialized view: its key columns and its measures, by output name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    pub keys: Vec<String>,
    pub measures: Vec<(String, Merge)>,
}

/// Why SQL cannot be maintained incrementally, and where (in the rendered SQL).
#[derive(Clone, Debug, PartialEq)]
pub struct Rejected {
    pub why: String,
    pub at: Pos,
}

fn reject(why: impl Into<String>, at: Pos) -> Rejected {
    Rejected {
        why: why.into(),
        at,
    }
}

fn pos_of(node: &impl Spanned) -> Pos {
    at(node.span())
}

fn at(span: sqlparser::tokenizer::Span) -> Pos {
    Pos {
        line: span.start.line.max(1) as u32,
        column: span.start.column.max(1) as u32,
    }
}

const TOP: Pos = Pos { line: 1, column: 1 };

/// Aggregates whose partial results merge, and how.
fn mergeable(name: &str) -> Option<Merge> {
    match name {
        "SUM" | "COUNT" | "COUNTIF" | "COUNT_IF" => Some(Merge::Add),
        "MIN" => Some(Merge::Min),
        "MAX" => Some(Merge::Max),
        _ => None,
    }
}

/// Aggregates that exist but cannot be merged batch by batch, with what to do instead.
fn not_mergeable(name: &str) -> Option<&'static str> {
    Some(match name {
        "AVG" | "MEAN" => "keep SUM and COUNT here and divide in the view that reads it",
        "APPROX_COUNT_DISTINCT" | "APPROX_DISTINCT" | "HLL_COUNT.INIT" | "HLL_COUNT.MERGE" => {
            "an approximate distinct count has no mergeable state on the local target (DuckDB has no sketch type); make the column a key, or count it in a view"
        }
        "ANY_VALUE" | "ARBITRARY" | "FIRST" | "LAST" | "ARG_MAX" | "ARG_MIN" | "MAX_BY"
        | "MIN_BY" => "which row it picks depends on the batch; make the column a key",
        "ARRAY_AGG" | "STRING_AGG" | "LIST" | "GROUP_CONCAT" | "LISTAGG" => {
            "collected values grow without bound; aggregate them in a view"
        }
        "MEDIAN" | "MODE" | "QUANTILE" | "QUANTILE_CONT" | "QUANTILE_DISC" | "PERCENTILE_CONT"
        | "PERCENTILE_DISC" | "APPROX_QUANTILES" | "APPROX_TOP_COUNT" | "APPROX_TOP_SUM" => {
            "a quantile needs every value; compute it in a view over the fact table"
        }
        "STDDEV" | "STDDEV_POP" | "STDDEV_SAMP" | "VARIANCE" | "VAR_POP" | "VAR_SAMP" | "CORR"
        | "COVAR_POP" | "COVAR_SAMP" | "KURTOSIS" | "SKEWNESS" | "ENTROPY" => {
            "keep SUM(x), SUM(x * x) and COUNT(*) here and derive it in the view that reads it"
        }
        "BIT_AND" | "BIT_OR" | "BIT_XOR" | "LOGICAL_AND" | "LOGICAL_OR" | "BOOL_AND"
        | "BOOL_OR" | "PRODUCT" | "HISTOGRAM" => "bqflow does not merge this aggregate",
        _ => return None,
    })
}

/// Functions whose value depends on when they run: a batch folded later would differ.
fn volatile(name: &str) -> bool {
    matches!(
        name,
        "CURRENT_TIMESTAMP"
            | "CURRENT_DATE"
            | "CURRENT_TIME"
            | "CURRENT_DATETIME"
            | "NOW"
            | "GET_CURRENT_TIMESTAMP"
            | "TODAY"
            | "RAND"
            | "RANDOM"
            | "UUID"
            | "GEN_RANDOM_UUID"
            | "GENERATE_UUID"
            | "SESSION_USER"
    )
}

fn function_name(f: &Function) -> String {
    f.name.to_string().to_ascii_uppercase()
}

/// The shape of `sql` (one SELECT, rendered for `dialect`), or why it cannot be maintained
/// incrementally.
pub fn analyze(sql: &str, dialect: Dialect) -> Result<Shape, Rejected> {
    let statements = match dialect {
        Dialect::BigQuery => Parser::parse_sql(&BigQueryDialect {}, sql),
        Dialect::DuckDb => Parser::parse_sql(&DuckDbDialect {}, sql),
    }
    .or_else(|_| Parser::parse_sql(&GenericDialect {}, sql))
    .map_err(|e| reject(format!("it could not be parsed: {e}"), TOP))?;
    let [Statement::Query(query)] = statements.as_slice() else {
        return Err(reject("it must be one SELECT statement", TOP));
    };
    check_query_clauses(query)?;
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Err(reject(
            "it must be a single SELECT (no UNION, INTERSECT or EXCEPT): each part would need its own rollup",
            pos_of(query.body.as_ref()),
        ));
    };
    if select.distinct.is_some() {
        return Err(reject(
            "SELECT DISTINCT cannot be merged batch by batch; GROUP BY the columns instead",
            at(select.select_token.0.span),
        ));
    }
    let [from] = select.from.as_slice() else {
        return Err(reject(
            "it must read exactly one table",
            at(select.select_token.0.span),
        ));
    };
    if let Some(join) = from.joins.first() {
        return Err(reject(
            "a join: a batch of new facts would miss changes to the joined table; aggregate the facts here and join dimensions in the view that reads it",
            pos_of(&join.relation),
        ));
    }
    if !matches!(from.relation, TableFactor::Table { .. }) {
        return Err(reject(
            "it must read a table, not a subquery or a function",
            pos_of(&from.relation),
        ));
    }
    if let Some(h) = &select.having {
        return Err(reject(
            "HAVING filters on totals that change with every batch; filter in the view that reads it",
            pos_of(h),
        ));
    }
    if let Some(q) = &select.qualify {
        return Err(reject("QUALIFY needs every row of a group", pos_of(q)));
    }
    check_expressions(query)?;
    let shape = shape_of(&select.projection)?;
    check_group_by(&select.group_by, &select.projection, &shape, query)?;
    Ok(shape)
}

/// No WITH, ORDER BY, LIMIT or FETCH: a rollup is a plain aggregate.
fn check_query_clauses(query: &Query) -> Result<(), Rejected> {
    if let Some(with) = &query.with {
        return Err(reject(
            "a WITH clause: write the aggregate directly over the table",
            at(with.with_token.0.span),
        ));
    }
    if let Some(order) = &query.order_by {
        return Err(reject(
            "ORDER BY: a materialized view has no order; sort where you read it",
            pos_of(order),
        ));
    }
    if let Some(limit) = &query.limit_clause {
        return Err(reject(
            "LIMIT keeps rows that change with every batch; limit where you read it",
            pos_of(limit),
        ));
    }
    if query.fetch.is_some() {
        return Err(reject("FETCH keeps rows that change with every batch", TOP));
    }
    Ok(())
}

/// Anywhere in the statement: no subquery, window function, non-mergeable aggregate, DISTINCT
/// aggregate or volatile function.
fn check_expressions(query: &Query) -> Result<(), Rejected> {
    let found = visit_expressions(query, |e| {
        let problem = match e {
            Expr::Subquery(_)
            | Expr::Exists { .. }
            | Expr::In {
                target: sqlparser::ast::InTarget::Subquery(_),
                ..
            } => Some("a subquery reads rows outside the batch; compute it in a view".to_string()),
            Expr::Function(f) => function_problem(f),
            _ => None,
        };
        match problem {
            Some(why) => ControlFlow::Break(reject(why, pos_of(e))),
            None => ControlFlow::Continue(()),
        }
    });
    match found {
        ControlFlow::Break(r) => Err(r),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn function_problem(f: &Function) -> Option<String> {
    let name = function_name(f);
    if f.over.is_some() {
        return Some(format!(
            "{name}(…) OVER is a window function: it needs every row at once; compute it in the view that reads this one"
        ));
    }
    if let Some(how) = not_mergeable(&name) {
        return Some(format!("{name} cannot be merged batch by batch: {how}"));
    }
    if volatile(&name) {
        return Some(format!(
            "{name} gives a different value each time a batch is folded in"
        ));
    }
    if let FunctionArguments::List(list) = &f.args
        && list.duplicate_treatment == Some(sqlparser::ast::DuplicateTreatment::Distinct)
    {
        return Some(format!(
            "{name}(DISTINCT …) cannot be merged: the same value can arrive in two batches; make the column a key, or count it in a view"
        ));
    }
    if f.filter.is_some() {
        return Some(format!(
            "{name}(…) FILTER (…) is not the same on BigQuery; use {name}(CASE WHEN … END) or COUNTIF"
        ));
    }
    None
}

/// An aggregate call in `e`, if any (after `check_expressions`, only mergeable ones remain).
fn contains_aggregate(e: &Expr) -> bool {
    visit_expressions(e, |x| match x {
        Expr::Function(f) if mergeable(&function_name(f)).is_some() => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// Keys and measures, in SELECT order; every column needs a name a fold can match on.
fn shape_of(projection: &[SelectItem]) -> Result<Shape, Rejected> {
    let mut keys = Vec::new();
    let mut measures = Vec::new();
    for item in projection {
        let (expr, name) = match item {
            SelectItem::UnnamedExpr(e) => (e, column_name(e)),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            other => {
                return Err(reject(
                    "name each column: `*` would change with the table",
                    pos_of(other),
                ));
            }
        };
        let Some(name) = name else {
            return Err(reject(
                format!("give `{expr}` a name with AS"),
                pos_of(expr),
            ));
        };
        if !contains_aggregate(expr) {
            keys.push(name);
            continue;
        }
        let Expr::Function(f) = expr else {
            return Err(reject(
                format!(
                    "`{expr}` computes with an aggregate's total, which changes with every batch; select the aggregate alone and compute in the view that reads it"
                ),
                pos_of(expr),
            ));
        };
        let merge = mergeable(&function_name(f)).expect("contains_aggregate");
        if let FunctionArguments::List(list) = &f.args
            && list.args.iter().any(contains_aggregate_arg)
        {
            return Err(reject("an aggregate inside an aggregate", pos_of(expr)));
        }
        measures.push((name, merge));
    }
    if measures.is_empty() {
        return Err(reject(
            "it aggregates nothing: a materialized view needs at least one SUM, COUNT, COUNTIF, MIN or MAX",
            TOP,
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for name in keys.iter().chain(measures.iter().map(|(n, _)| n)) {
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(reject(format!("two columns are named `{name}`"), TOP));
        }
    }
    Ok(Shape { keys, measures })
}

fn contains_aggregate_arg(arg: &sqlparser::ast::FunctionArg) -> bool {
    use sqlparser::ast::{FunctionArg, FunctionArgExpr};
    let e = match arg {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
        | FunctionArg::Named {
            arg: FunctionArgExpr::Expr(e),
            ..
        }
        | FunctionArg::ExprNamed {
            arg: FunctionArgExpr::Expr(e),
            ..
        } => e,
        _ => return false,
    };
    contains_aggregate(e)
}

/// A plain column's name (`s.store_id` → `store_id`); other expressions need an alias.
fn column_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(i.value.clone()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.clone()),
        _ => None,
    }
}

/// GROUP BY names every key and nothing else (by position, alias or expression), or is ALL.
fn check_group_by(
    group_by: &GroupByExpr,
    projection: &[SelectItem],
    shape: &Shape,
    query: &Query,
) -> Result<(), Rejected> {
    let exprs = match group_by {
        GroupByExpr::All(modifiers) if modifiers.is_empty() => return Ok(()),
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs,
        _ => {
            return Err(reject(
                "GROUP BY ROLLUP, CUBE or GROUPING SETS cannot be folded; declare one materialized view per grouping",
                pos_of(query.body.as_ref()),
            ));
        }
    };
    // (position in SELECT, expression, name) of each key, in SELECT order as in `shape`.
    let keys: Vec<(usize, &Expr, &String)> = projection
        .iter()
        .enumerate()
        .filter_map(|(i, item)| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                (!contains_aggregate(e)).then_some((i, e))
            }
            _ => None,
        })
        .zip(&shape.keys)
        .map(|((i, e), name)| (i, e, name))
        .collect();
    let mut grouped = vec![false; keys.len()];
    for g in exprs {
        let index = match g {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => n
                    .parse::<usize>()
                    .ok()
                    .and_then(|p| keys.iter().position(|(i, ..)| i + 1 == p)),
                _ => None,
            },
            other => keys.iter().position(|(_, e, name)| {
                *e == other || column_name(other).is_some_and(|n| n.eq_ignore_ascii_case(name))
            }),
        };
        match index {
            Some(i) => grouped[i] = true,
            None => {
                return Err(reject(
                    format!(
                        "GROUP BY `{g}` is not one of the selected keys: every key is selected and grouped by"
                    ),
                    pos_of(g),
                ));
            }
        }
    }
    if let Some(i) = grouped.iter().position(|g| !g) {
        return Err(reject(
            format!(
                "`{}` is selected but not grouped by: add it to GROUP BY",
                keys[i].2
            ),
            pos_of(keys[i].1),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(sql: &str) -> Result<Shape, Rejected> {
        let duck = analyze(sql, Dialect::DuckDb);
        let bq = analyze(&sql.replace('"', "`"), Dialect::BigQuery);
        assert_eq!(duck.is_ok(), bq.is_ok(), "{sql}: {duck:?} vs {bq:?}");
        duck
    }

    #[test]
    fn a_grouped_sum_count_min_max_is_a_rollup() {
        let shape = both(
            "SELECT s.store_id, date_trunc('hour', s.timestamp) AS hour, COUNT(*) AS sales,
                    SUM(s.quantity * s.unit_price) AS revenue, MIN(s.timestamp) AS first_sale,
                    MAX(s.timestamp) AS last_sale
             FROM \"d\".\"sales_fact\" AS s WHERE s.quantity > 0 GROUP BY 1, 2",
        )
        .unwrap();
        assert_eq!(shape.keys, ["store_id", "hour"]);
        assert_eq!(
            shape.measures,
            [
                ("sales".to_string(), Merge::Add),
                ("revenue".into(), Merge::Add),
                ("first_sale".into(), Merge::Min),
                ("last_sale".into(), Merge::Max)
            ]
        );
        assert!(both("SELECT s.store_id, COUNT(*) AS n FROM t AS s GROUP BY s.store_id").is_ok());
        assert!(
            both("SELECT SUM(x) AS total FROM t")
                .unwrap()
                .keys
                .is_empty()
        );
    }

    #[test]
    fn what_cannot_be_folded_is_rejected_with_the_reason_and_place() {
        for (sql, expected, line) in [
            (
                "SELECT a,\n  AVG(x) AS m FROM t GROUP BY a",
                "AVG cannot be merged",
                2,
            ),
            (
                "SELECT a, COUNT(DISTINCT b) AS n FROM t GROUP BY a",
                "DISTINCT",
                1,
            ),
            ("SELECT a, SUM(x) OVER () AS s FROM t", "window function", 1),
            (
                "SELECT a, SUM(x) AS s FROM t JOIN u ON t.a = u.a GROUP BY a",
                "a join",
                1,
            ),
            (
                "SELECT a, SUM(x) AS s FROM t GROUP BY a HAVING SUM(x) > 1",
                "HAVING",
                1,
            ),
            (
                "SELECT a, SUM(x) AS s FROM t GROUP BY a ORDER BY a",
                "ORDER BY",
                1,
            ),
            (
                "SELECT a, SUM(x) AS s FROM t GROUP BY a LIMIT 5",
                "LIMIT",
                1,
            ),
            (
                "SELECT a, SUM(x) * 2 AS s FROM t GROUP BY a",
                "select the aggregate alone",
                1,
            ),
            (
                "SELECT a, SUM(x) FROM t GROUP BY a",
                "give `SUM(x)` a name",
                1,
            ),
            (
                "SELECT a, b, SUM(x) AS s FROM t GROUP BY a",
                "`b` is selected but not grouped",
                1,
            ),
            (
                "SELECT a, SUM(x) AS s FROM t WHERE a IN (SELECT a FROM u) GROUP BY a",
                "subquery",
                1,
            ),
            ("SELECT a FROM t GROUP BY a", "aggregates nothing", 1),
            ("WITH w AS (SELECT 1) SELECT SUM(x) AS s FROM t", "WITH", 1),
            (
                "SELECT a, APPROX_COUNT_DISTINCT(b) AS n FROM t GROUP BY a",
                "sketch",
                1,
            ),
            (
                "SELECT SUM(x) AS s FROM t UNION ALL SELECT SUM(y) AS s FROM u",
                "UNION",
                1,
            ),
            (
                "SELECT a, MAX(CURRENT_TIMESTAMP) AS s FROM t GROUP BY a",
                "different value",
                1,
            ),
        ] {
            let r = both(sql).expect_err(sql);
            assert!(r.why.contains(expected), "{sql}: {}", r.why);
            assert_eq!(r.at.line, line, "{sql}: {r:?}");
        }
    }
}
