//! SQL templates: views and named queries are minijinja templates written once, in
//! BigQuery-flavoured SQL, and rendered per dialect. Undefined names are errors (a typo never
//! becomes an empty string); relations go through `ref()`, parameters through `param()`.

pub mod dialect;
pub mod id_counts;
pub mod params;
pub mod rollup;
pub mod statement;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::spec::located::{Pos, Text};
use crate::spec::types::{MaterializedView, Query, View};
use crate::spec::{Project, names};
pub use dialect::Dialect;

/// A rendered template and what it referred to.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub sql: String,
    /// Tables and views named through `ref()`, in order of first use (the view's dependencies).
    pub refs: Vec<String>,
    /// Parameters used through `param()`, in order of first use. DuckDB binds them as `$1, $2…`
    /// in this order.
    pub params: Vec<String>,
}

/// Collected while one template renders.
#[derive(Default)]
struct RenderState {
    refs: Vec<String>,
    params: Vec<String>,
    /// Declared parameters of the query being rendered; `None` for a view (no parameters).
    declared: Option<Vec<String>>,
    /// `ref(name)` gives this text instead of the relation (kept across renders; see
    /// `Renderer::redirected`).
    redirects: BTreeMap<String, String>,
}

pub struct Renderer {
    env: Environment<'static>,
    dialect: Dialect,
    state: Arc<Mutex<RenderState>>,
    spec_file: PathBuf,
    templates: PathBuf,
    /// Imports that bring the dialect's macros into every view and query (see `macro_imports`).
    prelude: String,
}

/// Where `ref()` points: BigQuery needs the GCP project, DuckDB a schema named as the dataset.
fn qualified(dialect: Dialect, gcp_project: &str, dataset: &str, name: &str) -> String {
    match dialect {
        Dialect::BigQuery => format!("`{gcp_project}.{dataset}.{name}`"),
        Dialect::DuckDb => format!("\"{dataset}\".\"{name}\""),
    }
}

impl Renderer {
    /// `gcp_project` qualifies BigQuery names; `validate` passes a placeholder when none is set.
    pub fn new(
        project: &Project,
        dialect: Dialect,
        gcp_project: &str,
    ) -> Result<Renderer, Diagnostics> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        dialect::register(&mut env, dialect);

        let state = Arc::new(Mutex::new(RenderState::default()));
        let spec = &project.spec;
        let mut relations: BTreeSet<String> = spec
            .tables
            .iter()
            .map(|t| t.name.value.clone())
            .chain(spec.views.iter().map(|v| v.name.value.clone()))
            .collect();
        relations.extend(spec.pipelines.iter().map(Project::dead_letter_table));
        relations.extend(spec.materialized_views.iter().map(|m| m.name.value.clone()));
        let dataset = spec.dataset.name.value.clone();
        add_ref(&mut env, &state, relations, dialect, gcp_project, dataset);
        add_param(&mut env, &state, dialect);
        env.add_global(
            "target",
            Value::from_iter([("dialect", Value::from(dialect.name()))]),
        );

        let mut found = Diagnostics::default();
        let mut macro_files = Vec::new();
        for (name, source) in read_templates(&project.templates) {
            if name.starts_with("macros/") {
                macro_files.push((name.clone(), source.clone()));
            }
            if let Err(e) = env.add_template_owned(name.clone(), source) {
                found.push(template_error(&e, &project.templates, &project.file, 0));
            }
        }
        let prelude = macro_imports(dialect, &macro_files);
        found.into_result()?;
        Ok(Renderer {
            env,
            dialect,
            state,
            spec_file: project.file.clone(),
            templates: project.templates.clone(),
            prelude,
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// A template's path and source: `template:` if given, else `<dir>/<name>.sql`.
    fn template(
        &self,
        dir: &str,
        name: &Text,
        template: Option<&Text>,
    ) -> Result<(String, String), Diagnostic> {
        let path = template.map_or_else(|| format!("{dir}/{name}.sql"), |t| t.value.clone());
        let source = self
            .env
            .get_template(&path)
            .map_err(|_| {
                Diagnostic::new(
                    &self.spec_file,
                    name.at,
                    format!("template `templates/{path}` is missing"),
                )
            })?
            .source()
            .to_string();
        Ok((path, source))
    }

    pub fn view(&self, view: &View) -> Result<Rendered, Diagnostic> {
        let (path, source) = self.template("views", &view.name, view.template.as_ref())?;
        let rendered = self.render(&path, &source, None, Pos::default())?;
        statement::single_query(&rendered.sql, self.dialect).map_err(|why| {
            Diagnostic::new(
                &self.templates.join(&path),
                Pos { line: 1, column: 1 },
                format!(
                    "view `{}` must render to one SELECT (or WITH … SELECT) statement: {why}",
                    view.name
                ),
            )
        })?;
        Ok(rendered)
    }

    /// A materialized view's SQL and its shape, or where and why it cannot be maintained
    /// incrementally (`rollup.rs`).
    pub fn materialized_view(
        &self,
        mv: &MaterializedView,
    ) -> Result<(Rendered, rollup::Shape), Diagnostic> {
        let (path, source) = self.template("materialized_views", &mv.name, mv.template.as_ref())?;
        let rendered = self.render(&path, &source, None, Pos::default())?;
        let file = self.templates.join(&path);
        statement::single_query(&rendered.sql, self.dialect).map_err(|why| {
            Diagnostic::new(
                &file,
                Pos { line: 1, column: 1 },
                format!(
                    "materialized view `{}` must render to one SELECT statement: {why}",
                    mv.name
                ),
            )
        })?;
        let shape = rollup::analyze(&rendered.sql, self.dialect).map_err(|r| {
            let mut d = Diagnostic::new(
                &file,
                r.at,
                format!(
                    "materialized view `{}` cannot be kept up to date incrementally: {}",
                    mv.name, r.why
                ),
            );
            d.hint("see docs/materialized-views.md for the SQL a materialized view may hold");
            d
        })?;
        Ok((rendered, shape))
    }

    /// Runs `f` with `ref(name)` giving `text` for each `(name, text)`: a materialized view's
    /// SQL over one loaded batch instead of its table, or a metric computed from the raw facts
    /// (a materialized view's name redirected to its own SQL).
    pub fn redirected<T>(
        &self,
        redirects: BTreeMap<String, String>,
        f: impl FnOnce(&Self) -> T,
    ) -> T {
        self.state.lock().expect("render state").redirects = redirects;
        let out = f(self);
        self.state.lock().expect("render state").redirects.clear();
        out
    }

    /// Redirects that compute everything from the tables: each materialized view and view of
    /// the spec as its own SQL in parentheses, views in dependency order (a view's SQL already
    /// inlines what it reads). Used with `redirected` by `query --from-facts`.
    pub fn from_facts(&self, project: &Project) -> Result<BTreeMap<String, String>, Diagnostic> {
        let mut inlined = BTreeMap::new();
        for m in &project.spec.materialized_views {
            let (rendered, _) = self.materialized_view(m)?;
            inlined.insert(m.name.value.clone(), format!("(\n{}\n)", rendered.sql));
        }
        let mut pending: Vec<&View> = project.spec.views.iter().collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut still = Vec::new();
            for v in pending {
                let refs = self.view(v)?.refs;
                let ready = refs.iter().all(|r| {
                    inlined.contains_key(r)
                        || !project.spec.views.iter().any(|w| w.name.as_str() == r)
                });
                if !ready {
                    still.push(v);
                    continue;
                }
                let sql = self.redirected(inlined.clone(), |r| r.view(v))?.sql;
                inlined.insert(v.name.value.clone(), format!("(\n{sql}\n)"));
            }
            if still.len() == before {
                // A cycle: `plan` reports it; leave those views as they are.
                break;
            }
            pending = still;
        }
        Ok(inlined)
    }

    pub fn query(&self, query: &Query) -> Result<Rendered, Diagnostic> {
        let declared = query.params.iter().map(|p| p.name.value.clone()).collect();
        let rendered = self.render(
            &format!("query:{}", query.name),
            &query.sql,
            Some(declared),
            query.sql.at,
        )?;
        statement::single_query(&rendered.sql, self.dialect).map_err(|why| {
            let mut d = Diagnostic::new(
                &self.spec_file,
                query.sql.at,
                format!(
                    "query `{}` must be one SELECT (or WITH … SELECT) statement: {why}",
                    query.name
                ),
            );
            d.hint(
                "queries and views only read: write data with `generate`, change tables with `up`",
            );
            d
        })?;
        Ok(rendered)
    }

    /// Ad-hoc SQL from `query --sql`: `ref()` and the dialect functions work; no parameters.
    /// One SELECT (or WITH … SELECT) statement, like a named query.
    pub fn adhoc(&self, sql: &str) -> Result<Rendered, Diagnostic> {
        let rendered = self.render("adhoc", sql, Some(Vec::new()), Pos::default())?;
        statement::single_query(&rendered.sql, self.dialect).map_err(|why| {
            Diagnostic::new(
                std::path::Path::new("--sql"),
                Pos::default(),
                format!("--sql must be one SELECT (or WITH … SELECT) statement: {why}"),
            )
        })?;
        Ok(rendered)
    }

    /// A table or view of the spec, qualified and quoted for the dialect (what `ref()` gives).
    pub fn relation(&self, name: &str) -> Result<String, Diagnostic> {
        let source = format!("{{{{ ref({}) }}}}", serde_json::Value::from(name));
        Ok(self
            .render("relation", &source, Some(Vec::new()), Pos::default())?
            .sql)
    }

    fn render(
        &self,
        name: &str,
        source: &str,
        declared: Option<Vec<String>>,
        at: Pos,
    ) -> Result<Rendered, Diagnostic> {
        {
            let mut st = self.state.lock().expect("render state");
            let redirects = std::mem::take(&mut st.redirects);
            *st = RenderState {
                declared,
                redirects,
                ..RenderState::default()
            };
        }
        let full = format!("{}{source}", self.prelude);
        let sql = self.env.render_named_str(name, &full, ()).map_err(|e| {
            template_error(&e, &self.templates, &self.spec_file, self.prelude.len()).shifted(at)
        })?;
        let st = {
            let mut st = self.state.lock().expect("render state");
            RenderState {
                refs: std::mem::take(&mut st.refs),
                params: std::mem::take(&mut st.params),
                ..RenderState::default()
            }
        };
        let sql = sql.trim().trim_end_matches(';').trim_end().to_string();
        if sql.is_empty() {
            return Err(Diagnostic::new(
                &self.spec_file,
                at,
                format!("`{name}` renders to empty SQL"),
            ));
        }
        Ok(Rendered {
            sql,
            refs: st.refs,
            params: st.params,
        })
    }
}

/// Every `*.sql` under `templates/`, by path relative to it with `/` separators.
fn read_templates(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "sql")
                && let (Ok(rel), Ok(source)) =
                    (path.strip_prefix(dir), std::fs::read_to_string(&path))
            {
                let name = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((name, source));
            }
        }
    }
    out.sort();
    out
}

/// Macros in `templates/macros/*.sql` named `<dialect>__<name>` (or `default__<name>`) are
/// imported as `<name>` for the dialect being rendered; other macros under their own name. The
/// imports go in front of each template on its first line, so line numbers stay right.
fn macro_imports(dialect: Dialect, files: &[(String, String)]) -> String {
    let mut imports = String::new();
    let mut chosen: BTreeSet<String> = BTreeSet::new();
    for prefix in [dialect.name(), "default", ""] {
        for (file, source) in files {
            for name in macro_names(source) {
                let alias = match name.split_once("__") {
                    Some((p, rest)) if p == prefix => rest.to_string(),
                    Some((p, _))
                        if prefix.is_empty()
                            && (p == "default" || Dialect::ALL.iter().any(|d| d.name() == p)) =>
                    {
                        continue;
                    }
                    _ if prefix.is_empty() => name.clone(),
                    _ => continue,
                };
                if chosen.insert(alias.clone()) {
                    imports.push_str(&format!(
                        "{{%- from \"{file}\" import {name} as {alias} -%}}"
                    ));
                }
            }
        }
    }
    imports
}

fn macro_names(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = source;
    while let Some(i) = rest.find("macro") {
        let before = rest[..i].trim_end();
        rest = &rest[i + 5..];
        if before.ends_with("{%") || before.ends_with("{%-") {
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.push(name);
            }
        }
    }
    names
}

/// Maps a minijinja error to a diagnostic at the template file's line and column.
fn template_error(e: &Error, templates: &Path, spec_file: &Path, prelude_len: usize) -> Diagnostic {
    let name = e.name().unwrap_or("template");
    let message = e
        .detail()
        .map_or_else(|| e.kind().to_string(), str::to_string);
    let source = e.template_source().unwrap_or("");
    let (line, column) = match (e.line(), e.range()) {
        (Some(line), Some(range)) => {
            let start = range.start.min(source.len());
            let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
            let mut column = source[line_start..start].chars().count() + 1;
            if line == 1 && prelude_len > 0 {
                column = column.saturating_sub(source[..prelude_len.min(start)].chars().count());
            }
            (line as u32, column.max(1) as u32)
        }
        (Some(line), None) => (line as u32, 1),
        _ => (0, 0),
    };
    let pos = Pos { line, column };
    let (file, what) = if let Some(q) = name.strip_prefix("query:") {
        (spec_file.to_path_buf(), format!("in query `{q}`: "))
    } else if name == "adhoc" {
        (PathBuf::from("--sql"), String::new())
    } else {
        (templates.join(name), String::new())
    };
    Diagnostic::new(&file, pos, format!("{what}{message}"))
}

impl Diagnostic {
    /// Moves a position inside an inline template (a query's `sql:`) to the spec file. `at` is
    /// where the scalar's text starts: after `sql: ` on the key's line, or, for a block scalar
    /// (`sql: |`), at the first line's indentation — which every line of the block shares.
    fn shifted(mut self, at: Pos) -> Self {
        if at.known() && self.pos.known() {
            self.pos.line += at.line - 1;
            self.pos.column += at.column - 1;
        }
        self
    }
}

/// `ref("name")`: a table or view of the spec, fully qualified for the dialect, recorded as a
/// dependency of what is being rendered. Any other name is an error with a suggestion.
fn add_ref(
    env: &mut Environment<'static>,
    state: &Arc<Mutex<RenderState>>,
    relations: BTreeSet<String>,
    dialect: Dialect,
    gcp_project: &str,
    dataset: String,
) {
    let gcp_project = gcp_project.to_string();
    let refs = state.clone();
    env.add_function("ref", move |name: String| -> Result<Value, Error> {
        if !relations.contains(&name) {
            let hint = names::suggest(&name, relations.iter().map(String::as_str))
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("ref(\"{name}\"): no table or view named `{name}` in the spec{hint}"),
            ));
        }
        let mut st = refs.lock().expect("render state");
        if !st.refs.contains(&name) {
            st.refs.push(name.clone());
        }
        if let Some(text) = st.redirects.get(&name) {
            return Ok(Value::from_safe_string(text.clone()));
        }
        Ok(Value::from_safe_string(qualified(
            dialect,
            &gcp_project,
            &dataset,
            &name,
        )))
    });
}

/// `param("name")`: a query parameter it declares, bound by the engine (`@name` on BigQuery,
/// `$n` on DuckDB), never pasted into the SQL. Views take none.
fn add_param(env: &mut Environment<'static>, state: &Arc<Mutex<RenderState>>, dialect: Dialect) {
    let params = state.clone();
    env.add_function("param", move |name: String| -> Result<Value, Error> {
        let mut st = params.lock().expect("render state");
        match &st.declared {
            None => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("param(\"{name}\"): views cannot take parameters; use them in a query"),
                ));
            }
            Some(declared) if !declared.contains(&name) => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("param(\"{name}\"): the query declares no parameter `{name}` under `params:`"),
                ));
            }
            Some(_) => {}
        }
        let index = match st.params.iter().position(|p| *p == name) {
            Some(i) => i,
            None => {
                st.params.push(name.clone());
                st.params.len() - 1
            }
        };
        Ok(Value::from_safe_string(match dialect {
            Dialect::BigQuery => format!("@{name}"),
            Dialect::DuckDb => format!("${}", index + 1),
        }))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Project {
        Project::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("project.yaml")).unwrap()
    }

    #[test]
    fn ref_qualifies_names_for_each_dialect_and_records_the_dependency() {
        let project = example();
        let sql = r#"SELECT count(*) FROM {{ ref("sales_fact") }}"#;
        let duck = Renderer::new(&project, Dialect::DuckDb, "p").unwrap();
        let local = duck.adhoc(sql).unwrap();
        assert!(
            local.sql.contains(r#""retail_dw"."sales_fact""#),
            "{}",
            local.sql
        );
        assert_eq!(local.refs, vec!["sales_fact"]);
        let bq = Renderer::new(&project, Dialect::BigQuery, "my-proj").unwrap();
        let cloud = bq.adhoc(sql).unwrap();
        assert!(
            cloud.sql.contains("`my-proj.retail_dw.sales_fact`"),
            "{}",
            cloud.sql
        );
    }

    #[test]
    fn params_bind_by_name_on_bigquery_and_by_position_on_duckdb() {
        let project = example();
        let query = project.query("top-products").unwrap();
        let duck = Renderer::new(&project, Dialect::DuckDb, "p")
            .unwrap()
            .query(query)
            .unwrap();
        let bq = Renderer::new(&project, Dialect::BigQuery, "p")
            .unwrap()
            .query(query)
            .unwrap();
        assert!(!duck.params.is_empty());
        assert_eq!(
            duck.params, bq.params,
            "the same parameters, in order of first use"
        );
        for (i, name) in duck.params.iter().enumerate() {
            assert!(duck.sql.contains(&format!("${}", i + 1)), "{}", duck.sql);
            assert!(bq.sql.contains(&format!("@{name}")), "{}", bq.sql);
        }
    }

    #[test]
    fn an_unknown_ref_is_a_diagnostic_with_a_suggestion() {
        let project = example();
        let r = Renderer::new(&project, Dialect::DuckDb, "p").unwrap();
        let err = r
            .adhoc(r#"SELECT * FROM {{ ref("sales_fct") }}"#)
            .unwrap_err();
        let text = format!("{} {}", err.message, err.hint.clone().unwrap_or_default());
        assert!(
            text.contains("sales_fct") && text.contains("sales_fact"),
            "{text}"
        );
    }
}
