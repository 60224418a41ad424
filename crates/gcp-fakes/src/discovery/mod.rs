//! Google API discovery documents as a request validator and router.
//!
//! Every request the fakes or the proxy receive goes through [`Discovery::validate`]: the
//! HTTP method and path must match a method of the document, every query parameter must be
//! declared, required ones present, and the JSON body must fit the method's request schema.
//! A request Google would reject for its shape therefore fails in tests, not in production.
//! The fakes then dispatch on the matched method id, so the documents are also the router.
//!
//! Not checked: semantic rules written only in prose (ranges, name syntax, "one of"): the
//! fakes check the ones bqflow relies on. Response bodies can be checked with
//! [`Discovery::validate_response`] (the crate's own tests do so for every fake).

mod schema;
mod template;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::{Map, Value};

use template::Template;

/// The APIs this crate carries discovery documents for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    PubSub,
    Dataflow,
    BigQuery,
    Storage,
    ServiceUsage,
    ResourceManager,
}

impl Service {
    pub const ALL: [Service; 6] = [
        Service::PubSub,
        Service::Dataflow,
        Service::BigQuery,
        Service::Storage,
        Service::ServiceUsage,
        Service::ResourceManager,
    ];

    /// Short name, as in the discovery document (`cloudresourcemanager` for ResourceManager).
    pub fn name(self) -> &'static str {
        match self {
            Service::PubSub => "pubsub",
            Service::Dataflow => "dataflow",
            Service::BigQuery => "bigquery",
            Service::Storage => "storage",
            Service::ServiceUsage => "serviceusage",
            Service::ResourceManager => "cloudresourcemanager",
        }
    }

    /// The name Service Usage knows the API by.
    pub fn api(self) -> &'static str {
        match self {
            Service::PubSub => "pubsub.googleapis.com",
            Service::Dataflow => "dataflow.googleapis.com",
            Service::BigQuery => "bigquery.googleapis.com",
            Service::Storage => "storage.googleapis.com",
            Service::ServiceUsage => "serviceusage.googleapis.com",
            Service::ResourceManager => "cloudresourcemanager.googleapis.com",
        }
    }

    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }

    fn document(self) -> &'static str {
        match self {
            Service::PubSub => include_str!("../../discovery/pubsub.v1.json"),
            Service::Dataflow => include_str!("../../discovery/dataflow.v1b3.json"),
            Service::BigQuery => include_str!("../../discovery/bigquery.v2.json"),
            Service::Storage => include_str!("../../discovery/storage.v1.json"),
            Service::ServiceUsage => include_str!("../../discovery/serviceusage.v1.json"),
            Service::ResourceManager => {
                include_str!("../../discovery/cloudresourcemanager.v1.json")
            }
        }
    }

    /// The parsed document, loaded once per process.
    pub fn discovery(self) -> &'static Discovery {
        static CACHE: [OnceLock<Discovery>; 6] = [const { OnceLock::new() }; 6];
        let i = Service::ALL.iter().position(|s| *s == self).unwrap_or(0);
        CACHE[i].get_or_init(|| Discovery::parse(self.document()))
    }
}

/// Query parameters every Google API accepts, whether or not a document lists them.
const STANDARD_PARAMS: &[&str] = &[
    "alt",
    "fields",
    "key",
    "prettyPrint",
    "quotaUser",
    "$.xgafv",
    "access_token",
    "oauth_token",
    "upload_protocol",
    "uploadType",
    "callback",
    "userIp",
];

struct Method {
    id: String,
    http_method: String,
    /// `flatPath` when present (one variable per segment: the most precise route), else `path`.
    route: Template,
    /// `path`, whose variables are the method's parameter names (`v1/{+name}`).
    path: Template,
    params: Map<String, Value>,
    request: Option<String>,
    response: Option<String>,
    /// Absolute media-upload paths (`/upload/storage/v1/b/{bucket}/o`).
    uploads: Vec<Template>,
}

/// One parsed discovery document.
pub struct Discovery {
    service_path: String,
    methods: Vec<Method>,
    schemas: Map<String, Value>,
    global_params: Map<String, Value>,
}

/// A request that fits the document.
#[derive(Clone, Debug)]
pub struct Matched {
    /// Method id, e.g. `pubsub.projects.topics.create`.
    pub id: String,
    /// Path parameters by their `path` names (`name`, `projectId`), percent-decoded.
    pub params: BTreeMap<String, String>,
    /// Query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The parsed JSON body; `{}` for an empty body of a method that takes one, else `null`.
    pub body: Value,
    /// A media upload (body not JSON, not checked).
    pub media: bool,
}

impl Matched {
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map_or("", String::as_str)
    }

    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn query_values(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A request that does not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The method the path matched, when it did.
    pub method_id: Option<String>,
    pub problems: Vec<String>,
}

impl Discovery {
    /// Parses a discovery document. Panics on a malformed one: they are compiled in.
    pub fn parse(text: &str) -> Discovery {
        let doc: Value = serde_json::from_str(text).expect("discovery document is JSON");
        let mut methods = Vec::new();
        let verbs = uses_verbs(&doc);
        collect_methods(doc.get("resources"), verbs, &mut methods);
        collect_methods_in(doc.get("methods"), verbs, &mut methods);
        let object = |key: &str| doc.get(key).and_then(Value::as_object).cloned();
        Discovery {
            service_path: doc["servicePath"].as_str().unwrap_or("").to_string(),
            methods,
            schemas: object("schemas").unwrap_or_default(),
            global_params: object("parameters").unwrap_or_default(),
        }
    }

    /// Property names of a schema (empty for an unknown schema).
    pub fn schema_properties(&self, schema: &str) -> Vec<String> {
        self.schemas
            .get(schema)
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every method id in the document.
    pub fn method_ids(&self) -> impl Iterator<Item = &str> {
        self.methods.iter().map(|m| m.id.as_str())
    }

    /// Checks one request. `path` is the URL path as sent (`/v1/projects/p/topics/t`,
    /// `/bigquery/v2/projects/p/datasets`), `query` the raw query string without `?`.
    pub fn validate(
        &self,
        http_method: &str,
        path: &str,
        query: &str,
        body: &[u8],
    ) -> Result<Matched, Rejection> {
        let (method, params, media) = self.route(http_method, path)?;
        let mut problems = Vec::new();
        let query = self.check_query(method, query, &mut problems);
        let body = if media {
            Value::Null
        } else {
            self.check_body(method, body, &mut problems)
        };
        if problems.is_empty() {
            Ok(Matched {
                id: method.id.clone(),
                params,
                query,
                body,
                media,
            })
        } else {
            Err(Rejection {
                method_id: Some(method.id.clone()),
                problems,
            })
        }
    }

    /// Checks a response body against the method's response schema (for testing fakes).
    pub fn validate_response(&self, method_id: &str, body: &Value) -> Vec<String> {
        let Some(method) = self.methods.iter().find(|m| m.id == method_id) else {
            return vec![format!("no method {method_id}")];
        };
        match &method.response {
            Some(name) => {
                let schema = Value::Object(Map::from_iter([("$ref".into(), name.clone().into())]));
                let mut checker = schema::Checker::new(&self.schemas, method_id);
                checker.check(&schema, body, "");
                checker.problems
            }
            None if body.as_object().is_some_and(Map::is_empty) || body.is_null() => vec![],
            None => vec!["method returns no body".into()],
        }
    }

    fn route(
        &self,
        http_method: &str,
        path: &str,
    ) -> Result<(&Method, BTreeMap<String, String>, bool), Rejection> {
        let absolute = format!("/{}", path.trim_start_matches('/'));
        let relative = absolute[1..].strip_prefix(self.service_path.as_str());
        let mut best: Option<(&Method, usize, bool)> = None;
        let mut other_methods = BTreeSet::new();
        for m in &self.methods {
            let via_route =
                relative.and_then(|r| m.route.captures(r).map(|_| m.route.literal_len()));
            let via_upload = m
                .uploads
                .iter()
                .find(|u| u.captures(&absolute).is_some())
                .map(Template::literal_len);
            let (score, media) = match (via_route, via_upload) {
                (Some(s), _) => (s, false),
                (None, Some(s)) => (s, true),
                (None, None) => continue,
            };
            if m.http_method != http_method {
                other_methods.insert(m.http_method.as_str());
                continue;
            }
            if best.is_none_or(|(_, s, _)| score > s) {
                best = Some((m, score, media));
            }
        }
        let Some((method, _, media)) = best else {
            let problem = if other_methods.is_empty() {
                format!("no method of this API has the path {absolute}")
            } else {
                let methods: Vec<&str> = other_methods.into_iter().collect();
                format!(
                    "no {http_method} method at {absolute} (that path takes {})",
                    methods.join(", ")
                )
            };
            return Err(Rejection {
                method_id: None,
                problems: vec![problem],
            });
        };
        // Parameter values come from `path`, whose names the method declares; `flatPath`
        // only says which URLs are routed here.
        let captured = if media {
            method.uploads.iter().find_map(|u| u.captures(&absolute))
        } else {
            relative.and_then(|r| method.path.captures(r).or_else(|| method.route.captures(r)))
        };
        let params = captured
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| {
                let decoded = percent_encoding::percent_decode_str(&v).decode_utf8_lossy();
                (k, decoded.into_owned())
            })
            .collect();
        Ok((method, params, media))
    }

    fn check_query(
        &self,
        method: &Method,
        query: &str,
        problems: &mut Vec<String>,
    ) -> Vec<(String, String)> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (key, value) in &pairs {
            *seen.entry(key.as_str()).or_default() += 1;
            let declared = method
                .params
                .get(key)
                .filter(|p| p["location"] == "query")
                .or_else(|| self.global_params.get(key));
            match declared {
                Some(spec) => {
                    if let Some(p) = param_value_problem(spec, value) {
                        problems.push(format!("query parameter {key}: {p}"));
                    }
                }
                None if STANDARD_PARAMS.contains(&key.as_str()) => {}
                None => problems.push(format!(
                    "unknown query parameter \"{key}\" for {}",
                    method.id
                )),
            }
        }
        for (key, count) in seen {
            let repeated = method
                .params
                .get(key)
                .is_some_and(|p| p["repeated"] == true);
            if count > 1 && !repeated {
                problems.push(format!("query parameter {key} given {count} times"));
            }
        }
        for (name, spec) in &method.params {
            let required = spec["location"] == "query" && spec["required"] == true;
            if required && !pairs.iter().any(|(k, _)| k == name) {
                problems.push(format!("missing required query parameter \"{name}\""));
            }
        }
        pairs
    }

    fn check_body(&self, method: &Method, body: &[u8], problems: &mut Vec<String>) -> Value {
        let empty = body.iter().all(u8::is_ascii_whitespace);
        let Some(request) = &method.request else {
            // Methods without a request schema take no body; `{}` is harmless.
            let harmless = empty
                || serde_json::from_slice::<Value>(body)
                    .is_ok_and(|v| v == Value::Object(Map::new()));
            if !harmless {
                problems.push(format!("{} takes no request body", method.id));
            }
            return Value::Null;
        };
        if empty {
            return Value::Object(Map::new());
        }
        let value: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("body is not valid JSON: {e}"));
                return Value::Null;
            }
        };
        let schema = Value::Object(Map::from_iter([("$ref".into(), request.clone().into())]));
        let mut checker = schema::Checker::new(&self.schemas, &method.id);
        checker.check(&schema, &value, "");
        problems.extend(checker.problems);
        value
    }
}

/// Checks one query parameter value (always a string on the wire) against its declaration.
fn param_value_problem(spec: &Value, value: &str) -> Option<String> {
    let format = spec.get("format").and_then(Value::as_str);
    match spec.get("type").and_then(Value::as_str) {
        Some("integer") => {
            let n: Option<i64> = value.parse().ok();
            let fits = match format {
                Some("uint32") => n.is_some_and(|n| u32::try_from(n).is_ok()),
                _ => n.is_some_and(|n| i32::try_from(n).is_ok()),
            };
            if !fits {
                return Some(format!(
                    "\"{value}\" is not a valid {}",
                    format.unwrap_or("integer")
                ));
            }
            let min = spec
                .get("minimum")
                .and_then(Value::as_str)
                .and_then(|m| m.parse::<i64>().ok());
            if let (Some(min), Some(n)) = (min, n)
                && n < min
            {
                return Some(format!("{n} is below the minimum {min}"));
            }
        }
        Some("boolean") if value != "true" && value != "false" => {
            return Some(format!("\"{value}\" is not true or false"));
        }
        Some("string") => {
            if let Some(p) = schema::string_format_problem(format, value) {
                return Some(p);
            }
        }
        _ => {}
    }
    let allowed = spec.get("enum").and_then(Value::as_array)?;
    (!allowed.iter().any(|a| a == value))
        .then(|| format!("\"{value}\" is not one of {}", schema::list(allowed)))
}

/// Whether any method path ends in a `:verb` (Pub/Sub, Dataflow, BigQuery; not Storage).
fn uses_verbs(doc: &Value) -> bool {
    fn walk(v: &Value) -> bool {
        match v {
            Value::Object(o) => {
                o.get("flatPath")
                    .and_then(Value::as_str)
                    .is_some_and(|p| p.contains(':'))
                    || o.values().any(walk)
            }
            _ => false,
        }
    }
    walk(doc.get("resources").unwrap_or(&Value::Null))
}

fn collect_methods(resources: Option<&Value>, verbs: bool, out: &mut Vec<Method>) {
    for resource in resources
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(_, r)| r)
    {
        collect_methods_in(resource.get("methods"), verbs, out);
        collect_methods(resource.get("resources"), verbs, out);
    }
}

fn collect_methods_in(methods: Option<&Value>, verbs: bool, out: &mut Vec<Method>) {
    for m in methods
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(_, m)| m)
    {
        let text = |key: &str| m.get(key).and_then(Value::as_str);
        let path = text("path").unwrap_or("");
        let schema_ref = |key: &str| {
            m.pointer(&format!("/{key}/$ref"))
                .and_then(Value::as_str)
                .map(String::from)
        };
        let uploads = m
            .pointer("/mediaUpload/protocols")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(_, p)| p.get("path").and_then(Value::as_str))
            .map(|p| Template::parse(p, verbs))
            .collect();
        out.push(Method {
            id: text("id").unwrap_or("").to_string(),
            http_method: text("httpMethod").unwrap_or("GET").to_string(),
            route: Template::parse(text("flatPath").unwrap_or(path), verbs),
            path: Template::parse(path, verbs),
            params: m
                .get("parameters")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            request: schema_ref("request"),
            response: schema_ref("response"),
            uploads,
        });
    }
}
