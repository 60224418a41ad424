//! Checks a JSON value against a discovery schema, the way Google's JSON front end parses a
//! request into its proto: unknown names are errors, every scalar has one JSON spelling.
//!
//! Deliberately stricter than Google in one place: 64-bit integers must be JSON strings
//! (Google also accepts numbers, but prints strings, and a client that sends numbers loses
//! precision above 2^53 before the server sees them).

use serde_json::{Map, Value};

use crate::wire;

/// Problems beyond this many are dropped: one bad field in a 1,000-message publish should not
/// produce a 1,000-line error.
const MAX_PROBLEMS: usize = 40;

pub(crate) struct Checker<'a> {
    schemas: &'a Map<String, Value>,
    /// Method id, for `annotations.required` (fields only some methods require).
    method_id: &'a str,
    pub(crate) problems: Vec<String>,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(schemas: &'a Map<String, Value>, method_id: &'a str) -> Checker<'a> {
        Checker {
            schemas,
            method_id,
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, at: &str, what: String) {
        if self.problems.len() < MAX_PROBLEMS {
            let at = if at.is_empty() { "(body)" } else { at };
            self.problems.push(format!("at '{at}': {what}"));
        }
    }

    /// Follows `$ref`s to the schema that has a `type`.
    fn resolve(&self, mut schema: &'a Value) -> Option<&'a Value> {
        for _ in 0..16 {
            match schema.get("$ref").and_then(Value::as_str) {
                Some(name) => schema = self.schemas.get(name)?,
                None => return Some(schema),
            }
        }
        None
    }

    pub(crate) fn check(&mut self, schema: &'a Value, v: &Value, at: &str) {
        if self.problems.len() >= MAX_PROBLEMS || v.is_null() {
            // proto3 JSON: `null` means "not set" for every field.
            return;
        }
        let Some(schema) = self.resolve(schema) else {
            self.problem(at, format!("discovery schema {schema} cannot be resolved"));
            return;
        };
        match schema.get("type").and_then(Value::as_str) {
            Some("object") => self.object(schema, v, at),
            Some("array") => match v.as_array() {
                Some(items) => {
                    let item_schema = schema.get("items").unwrap_or(&Value::Null);
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &format!("{at}[{i}]"));
                    }
                }
                None => self.problem(at, format!("expected an array, got {}", kind(v))),
            },
            Some("string") => self.string(schema, v, at),
            Some("integer") => self.integer(schema, v, at),
            Some("number") => {
                let special = matches!(v.as_str(), Some("NaN" | "Infinity" | "-Infinity"));
                if !v.is_number() && !special {
                    self.problem(at, format!("expected a number, got {}", kind(v)));
                }
            }
            Some("boolean") if !v.is_boolean() => {
                self.problem(at, format!("expected true or false, got {}", kind(v)));
            }
            // "any" and untyped schemas accept every value.
            _ => {}
        }
    }

    fn object(&mut self, schema: &'a Value, v: &Value, at: &str) {
        let Some(obj) = v.as_object() else {
            self.problem(at, format!("expected an object, got {}", kind(v)));
            return;
        };
        let props = schema.get("properties").and_then(Value::as_object);
        let extra = schema.get("additionalProperties");
        for (key, value) in obj {
            let child = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            match (props.and_then(|p| p.get(key)), extra) {
                (Some(s), _) | (None, Some(s)) => self.check(s, value, &child),
                (None, None) => self.problem(
                    at,
                    format!("unknown field \"{key}\" (Google: Invalid JSON payload received. Unknown name \"{key}\": Cannot find field.)"),
                ),
            }
        }
        for (key, s) in props.into_iter().flatten() {
            let required_here = s
                .pointer("/annotations/required")
                .and_then(Value::as_array)
                .is_some_and(|ids| ids.iter().any(|id| id == self.method_id));
            if required_here && obj.get(key).is_none_or(Value::is_null) {
                self.problem(
                    at,
                    format!("field \"{key}\" is required by {}", self.method_id),
                );
            }
        }
    }

    fn string(&mut self, schema: &Value, v: &Value, at: &str) {
        let format = schema.get("format").and_then(Value::as_str);
        let Some(s) = v.as_str() else {
            let hint = match format {
                Some("int64" | "uint64") => " (64-bit integers are JSON strings, e.g. \"42\")",
                Some("google-duration") => " (durations are strings like \"600s\")",
                _ => "",
            };
            self.problem(at, format!("expected a string{hint}, got {}", kind(v)));
            return;
        };
        if let Some(problem) = string_format_problem(format, s) {
            self.problem(at, problem);
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.iter().any(|a| a == s)
        {
            self.problem(at, format!("\"{s}\" is not one of {}", list(allowed)));
        }
    }

    fn integer(&mut self, schema: &Value, v: &Value, at: &str) {
        let format = schema.get("format").and_then(Value::as_str);
        let ok = match format {
            Some("uint32") => v.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
            // int32 and unformatted integers.
            _ => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        };
        if !ok {
            let f = format.unwrap_or("int32");
            self.problem(at, format!("expected a JSON number fitting {f}, got {v}"));
        }
    }
}

/// Syntax of the string formats discovery uses; `None` when `s` is fine.
pub(crate) fn string_format_problem(format: Option<&str>, s: &str) -> Option<String> {
    let ok = match format {
        Some("int64") => s.parse::<i64>().is_ok(),
        Some("uint64") => s.parse::<u64>().is_ok(),
        Some("byte") => wire::decode_base64(s).is_some(),
        Some("google-duration") => wire::is_duration(s),
        Some("google-datetime" | "date-time") => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        Some("date") => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        Some("google-fieldmask") => is_field_mask(s),
        _ => true,
    };
    (!ok).then(|| format!("\"{s}\" is not a valid {}", format.unwrap_or("string")))
}

/// A JSON field mask: comma-separated paths of dotted identifiers (empty means "no mask").
fn is_field_mask(s: &str) -> bool {
    s.is_empty()
        || s.split(',').all(|path| {
            !path.is_empty()
                && path.split('.').all(|seg| {
                    !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                })
        })
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn list(values: &[Value]) -> String {
    let names: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
    names.join(", ")
}
