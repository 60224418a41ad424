//! One HTTP client for every Google API bqflow calls: endpoints (with emulator overrides),
//! Application Default Credentials, Google's error envelope, and retries with truncated
//! exponential backoff, jitter and an overall deadline.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::endpoints::{Endpoints, Service};

const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// How a request may be repeated after a failure whose outcome is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// Reads, deletes, patches to a fixed state: repeating is harmless.
    Safe,
    /// A create: repeating is safe because the caller settles a 409 by reading the resource.
    CreateThenSettle,
    /// Never repeated automatically.
    Never,
}

#[derive(Clone)]
pub struct Request {
    pub service: Service,
    pub method: Method,
    /// Relative to the service root, e.g. `v1/projects/p/topics/t`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    /// A JSON body already serialised (large publish requests are built as text).
    pub raw: Option<Vec<u8>>,
    pub repeat: Repeat,
}

impl Request {
    pub fn new(service: Service, method: Method, path: impl Into<String>) -> Request {
        let repeat = match method {
            Method::GET | Method::DELETE | Method::PATCH | Method::PUT => Repeat::Safe,
            _ => Repeat::Never,
        };
        Request {
            service,
            method,
            path: path.into(),
            query: vec![],
            body: None,
            raw: None,
            repeat,
        }
    }
    pub fn query(mut self, key: &str, value: impl Into<String>) -> Request {
        self.query.push((key.into(), value.into()));
        self
    }
    pub fn body(mut self, body: Value) -> Request {
        self.body = Some(body);
        self
    }
    pub fn raw_body(mut self, json: Vec<u8>) -> Request {
        self.raw = Some(json);
        self
    }
    pub fn repeat(mut self, repeat: Repeat) -> Request {
        self.repeat = repeat;
        self
    }
    fn describe(&self) -> String {
        format!("{} {} {}", self.service.name(), self.method, self.path)
    }
}

/// A failed call, with Google's status and reason when the service sent them.
#[derive(Clone, Debug)]
pub struct ApiError {
    /// HTTP status; 0 when no response arrived (connection error, timeout).
    pub status: u16,
    /// Canonical status (`ALREADY_EXISTS`) from the error envelope.
    pub code: Option<String>,
    /// Legacy reason (`duplicate`, `rateLimitExceeded`) from `errors[0].reason`.
    pub reason: Option<String>,
    pub message: String,
    /// What was called ("bigquery POST projects/p/datasets").
    pub call: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.status == 0 {
            write!(f, "{}: {}", self.call, self.message)
        } else {
            let code = self
                .code
                .as_deref()
                .or(self.reason.as_deref())
                .unwrap_or("");
            write!(
                f,
                "{}: HTTP {} {code}: {}",
                self.call, self.status, self.message
            )
        }
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn not_found(&self) -> bool {
        self.status == 404
    }
    pub fn conflict(&self) -> bool {
        self.status == 409
    }
    /// Worth another try: rate limits, server errors, no response. BigQuery signals its rate
    /// limit as 403 `rateLimitExceeded`; a 403 `quotaExceeded` is long-term and is not retried.
    pub fn transient(&self) -> bool {
        matches!(self.status, 0 | 408 | 429 | 500 | 502 | 503 | 504)
            || (self.status == 403 && self.reason.as_deref() == Some("rateLimitExceeded"))
    }
    pub fn permission_denied(&self) -> bool {
        self.status == 403 && !self.transient()
    }
}

/// Retry budget: exponential from `min_delay`, capped at `max_delay`, with jitter, until
/// `deadline` has been spent waiting.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub min_delay: Duration,
    pub max_delay: Duration,
    pub deadline: Duration,
    pub request_timeout: Duration,
}

impl RetryPolicy {
    /// Defaults after Google's guidance (exponential backoff capped at 32 s), overridable for
    /// tests and impatient users with `BQFLOW_RETRY_DEADLINE_MS` / `BQFLOW_REQUEST_TIMEOUT_MS`.
    pub fn from_env() -> RetryPolicy {
        let s = crate::settings::get();
        RetryPolicy {
            min_delay: s.retry_min_delay,
            max_delay: Duration::from_secs(32),
            deadline: s.retry_deadline,
            request_timeout: s.request_timeout,
        }
    }
}

/// One segment of a request path, percent-encoded: names may hold `%`, `+`, `/` or spaces
/// (Pub/Sub names, Cloud Storage object names), which mean something else in a URL. Everything
/// but RFC 3986's unreserved characters is encoded; request bodies carry names as they are.
pub fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub struct Api {
    http: reqwest::Client,
    pub endpoints: Endpoints,
    auth: OnceCell<Arc<dyn gcp_auth::TokenProvider>>,
    retry: RetryPolicy,
    /// Requests sent, including retries (shown with -v and used by benchmarks).
    pub sent: AtomicU64,
    pub retried: AtomicU64,
}

impl Api {
    pub fn new(endpoints: Endpoints, retry: RetryPolicy) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(retry.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("bqflow/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Api {
            http,
            endpoints,
            auth: OnceCell::new(),
            retry,
            sent: AtomicU64::new(0),
            retried: AtomicU64::new(0),
        })
    }

    /// Fetches a token now, so missing or bad credentials fail before the first write.
    pub async fn check_credentials(&self) -> Result<(), String> {
        self.token().await.map(|_| ())
    }

    async fn token(&self) -> Result<Arc<gcp_auth::Token>, String> {
        const HOW: &str = "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file";
        let provider = tokio::time::timeout(
            Duration::from_secs(20),
            self.auth.get_or_try_init(gcp_auth::provider),
        )
        .await
        .map_err(|_| format!("no Google credentials found within 20 s: {HOW}"))?
        .map_err(|e| format!("no usable Google credentials ({e}): {HOW}"))?;
        provider
            .token(&[SCOPE])
            .await
            .map_err(|e| format!("could not get an access token ({e}): {HOW}"))
    }

    /// Sends a request, retrying transient failures as its `repeat` allows. Returns the JSON
    /// body (`Value::Null` for an empty one).
    pub async fn call(&self, req: &Request) -> Result<Value, ApiError> {
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_total_delay(Some(self.retry.deadline))
            .without_max_times();
        let attempt = || self.once(req);
        attempt
            .retry(backoff)
            .when(|e: &ApiError| e.transient() && req.repeat != Repeat::Never)
            .notify(|e, wait| {
                self.retried.fetch_add(1, Ordering::Relaxed);
                tracing::info!("retrying in {wait:?} after: {e}");
            })
            .await
    }

    /// Sends a create; a 409 (someone, or an earlier attempt of ours whose answer was lost,
    /// made it already) is settled by reading what exists with `read_back`. Every create goes
    /// through here, so a retried create never fails on its own success.
    pub async fn create_or_read<T, F, Fut>(
        &self,
        req: &Request,
        read_back: F,
    ) -> Result<T, ApiError>
    where
        T: DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, ApiError>>,
    {
        match self.call_as(req).await {
            Err(e) if e.conflict() => read_back().await?.ok_or(e),
            other => other,
        }
    }

    /// `call` decoded into a type.
    pub async fn call_as<T: DeserializeOwned>(&self, req: &Request) -> Result<T, ApiError> {
        let value = self.call(req).await?;
        serde_json::from_value(value).map_err(|e| ApiError {
            status: 0,
            code: None,
            reason: None,
            message: format!("unexpected response: {e}"),
            call: req.describe(),
        })
    }

    /// Every item of a paged list: follows `nextPageToken` until the last page. `field` names
    /// the array in each page (`topics`, `jobs`, `datasets`, …).
    pub async fn list(&self, req: &Request, field: &str) -> Result<Vec<Value>, ApiError> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut page_req = req.clone();
            if let Some(t) = &token {
                page_req = page_req.query("pageToken", t.clone());
            }
            let page = self.call(&page_req).await?;
            if let Some(Value::Array(found)) = page.get(field) {
                items.extend(found.iter().cloned());
            }
            token = page
                .get("nextPageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(String::from);
            if token.is_none() {
                return Ok(items);
            }
        }
    }

    /// A GET that maps 404 to `None`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        service: Service,
        path: impl Into<String>,
    ) -> Result<Option<T>, ApiError> {
        match self
            .call_as(&Request::new(service, Method::GET, path))
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn once(&self, req: &Request) -> Result<Value, ApiError> {
        let endpoint = self.endpoints.get(req.service);
        let url = format!("{}{}", endpoint.base, req.path);
        let fail = |status: u16, message: String| ApiError {
            status,
            code: None,
            reason: None,
            message,
            call: req.describe(),
        };
        let mut builder = self
            .http
            .request(req.method.clone(), &url)
            .query(&req.query);
        if let Some(raw) = &req.raw {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(raw.clone());
        } else if let Some(body) = &req.body {
            builder = builder.json(body);
        } else if req.method == Method::POST {
            builder = builder.header(reqwest::header::CONTENT_LENGTH, 0);
        }
        if !endpoint.overridden {
            let token = self.token().await.map_err(|m| fail(401, m))?;
            builder = builder.bearer_auth(token.as_str());
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        tracing::debug!("{}", req.describe());
        let response = builder
            .send()
            .await
            .map_err(|e| fail(0, transport_text(&e)))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| fail(0, transport_text(&e)))?;
        if (200..300).contains(&status) {
            return if text.trim().is_empty() {
                Ok(Value::Null)
            } else {
                serde_json::from_str(&text)
                    .map_err(|e| fail(0, format!("response is not JSON: {e}")))
            };
        }
        Err(parse_error(status, &text, req.describe()))
    }
}

/// A transport error without the URL's query string (it never holds secrets here, but the
/// message stays short).
fn transport_text(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} ({detail})")
    }
}

/// Google's error envelope: `{"error": {"code", "message", "status", "errors": [{"reason"}]}}`.
fn parse_error(status: u16, body: &str, call: String) -> ApiError {
    let envelope: Option<Value> = serde_json::from_str(body).ok();
    let error = envelope.as_ref().and_then(|v| v.get("error"));
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let message = text(error.and_then(|e| e.get("message")))
        .or_else(|| text(error))
        .unwrap_or_else(|| {
            body.chars()
                .take(200)
                .collect::<String>()
                .trim()
                .to_string()
        });
    ApiError {
        status,
        code: text(error.and_then(|e| e.get("status"))),
        reason: text(
            error
                .and_then(|e| e.get("errors"))
                .and_then(|e| e.get(0))
                .and_then(|e| e.get("reason")),
        ),
        message: if message.is_empty() {
            format!("HTTP {status}")
        } else {
            message
        },
        call,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_are_parsed_and_classified() {
        let e = parse_error(
            403,
            r#"{"error":{"code":403,"message":"Exceeded rate limits","errors":[{"reason":"rateLimitExceeded"}]}}"#,
            "bigquery PATCH x".into(),
        );
        assert!(e.transient() && !e.permission_denied());
        let e = parse_error(
            403,
            r#"{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}"#,
            String::new(),
        );
        assert!(!e.transient() && e.permission_denied());
        let e = parse_error(
            409,
            r#"{"error":{"code":409,"message":"Resource already exists","status":"ALREADY_EXISTS"}}"#,
            String::new(),
        );
        assert!(e.conflict() && e.code.as_deref() == Some("ALREADY_EXISTS"));
        let e = parse_error(502, "<html>bad gateway</html>", String::new());
        assert!(e.transient() && e.message.contains("bad gateway"));
    }
}
