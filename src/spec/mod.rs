//! `project.yaml`: parsing (with positions and `${ENV}`), semantic validation, and lookups.

pub mod dashboard;
pub mod env;
pub mod located;
pub mod names;
pub mod types;
pub mod validate;

use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::error::{Error, Result};
use located::Pos;
pub use types::Spec;

/// A spec that parsed and passed validation, with the paths it was loaded from.
#[derive(Debug)]
pub struct Project {
    pub spec: Spec,
    /// The spec file, as given (for messages).
    pub file: PathBuf,
    /// The folder holding the spec; relative paths in the spec are relative to it.
    pub root: PathBuf,
    /// `templates/` beside the spec.
    pub templates: PathBuf,
}

/// Files larger than this are not a hand-written spec; refuse them before parsing.
const MAX_SPEC_BYTES: u64 = 4 << 20;

impl Project {
    pub fn load(file: &Path) -> Result<Project> {
        let meta = std::fs::metadata(file).map_err(|e| {
            Error::usage(format!(
                "cannot read spec {}: {} (run `bqflow init` to create one, or pass --project-file)",
                file.display(),
                io_reason(&e)
            ))
        })?;
        if meta.len() > MAX_SPEC_BYTES {
            return Err(Error::usage(format!(
                "spec {} is {} bytes; a spec is at most {MAX_SPEC_BYTES} bytes",
                file.display(),
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(file).map_err(|e| {
            Error::usage(format!(
                "cannot read spec {}: {}",
                file.display(),
                io_reason(&e)
            ))
        })?;
        // An empty parent (a bare `project.yaml`) keeps paths in messages short: `templates/x.sql`.
        let root = file.parent().unwrap_or(Path::new("")).to_path_buf();
        let templates = root.join("templates");
        let spec = parse(&text, file)?;
        validate::check(&spec, file, &templates).into_result()?;
        Ok(Project {
            spec,
            file: file.to_path_buf(),
            root,
            templates,
        })
    }

    /// This deployment's identity (`plan::deployment_id`).
    pub fn deployment(&self) -> String {
        crate::plan::deployment_id(&self.spec.name, &self.spec.dataset.name)
    }

    /// The local target's folder, resolved against the spec's folder.
    pub fn local_dir(&self) -> PathBuf {
        self.root.join(self.spec.targets.local.dir.as_str())
    }

    pub fn table(&self, name: &str) -> Option<&types::Table> {
        self.spec.tables.iter().find(|t| t.name.as_str() == name)
    }

    pub fn subscription(&self, name: &str) -> Option<&types::Subscription> {
        self.spec
            .subscriptions
            .iter()
            .find(|s| s.name.as_str() == name)
    }

    pub fn query(&self, name: &str) -> Option<&types::Query> {
        self.spec.queries.iter().find(|q| q.name.as_str() == name)
    }

    pub fn dashboard(&self, name: &str) -> Option<&types::Dashboard> {
        self.spec
            .dashboards
            .iter()
            .find(|d| d.name.as_str() == name)
    }

    /// The topic a pipeline reads, through its subscription.
    pub fn pipeline_topic(&self, p: &types::Pipeline) -> &str {
        self.subscription(&p.subscription)
            .map(|s| s.topic.as_str())
            .expect("validated: pipeline subscriptions exist")
    }

    /// The dead-letter table of a pipeline (default `<table>_error_records`, as Dataflow's).
    pub fn dead_letter_table(p: &types::Pipeline) -> String {
        p.dead_letter_table
            .as_ref()
            .map_or_else(|| default_dead_letter_table(&p.table), |t| t.value.clone())
    }
}

/// Where Google's Pub/Sub-to-BigQuery template writes what does not fit `table`, unless the
/// spec names another table.
pub fn default_dead_letter_table(table: &str) -> String {
    format!("{table}_error_records")
}

/// Parses the YAML text into the typed spec; syntax, type and unknown-key errors carry positions.
pub fn parse(text: &str, file: &Path) -> Result<Spec> {
    located::take_env_errors();
    let parsed: std::result::Result<Spec, _> = serde_saphyr::from_str(text);
    let env_errors = located::take_env_errors();
    let spec = parsed.map_err(|e| Diagnostics::from(yaml_error(&e, file)))?;
    if env_errors.is_empty() {
        return Ok(spec);
    }
    let mut found = Diagnostics::default();
    for (pos, message) in env_errors {
        found.push(Diagnostic::new(file, pos, message));
    }
    Err(found.into())
}

fn yaml_error(e: &serde_saphyr::Error, file: &Path) -> Diagnostic {
    let pos = e.location().map(Pos::from).unwrap_or_default();
    // The library's own message ends with its position; ours is printed separately.
    let raw = e.without_snippet().to_string();
    let message = raw
        .lines()
        .next()
        .unwrap_or("invalid YAML")
        .split(" at line ")
        .next()
        .unwrap_or("invalid YAML")
        .trim()
        .to_string();
    // Say what is expected in the user's terms, not the parser's.
    let message = match message.as_str() {
        "invalid u8" | "invalid u16" | "invalid u32" | "invalid u64" | "invalid i32"
        | "invalid i64" => "expected a whole number here".to_string(),
        "invalid f32" | "invalid f64" => "expected a number here".to_string(),
        m => m
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or(m)
            .to_string(),
    };
    let mut d = Diagnostic::new(file, pos, message.clone());
    if message.contains("unknown field") {
        d.hint("check the spelling; `bqflow schema` prints every allowed key");
    }
    d
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// The JSON Schema of `project.yaml`, generated from the types.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Spec);
    let mut text = serde_json::to_string_pretty(&schema).expect("schema serializes");
    text.push('\n');
    text
}
