//! The validating proxy: a request that passed discovery validation and fault injection is
//! forwarded unchanged (method, path, query, headers, body) to an upstream emulator, and
//! the upstream's answer is passed back unchanged.
//!
//! One exception, where an emulator departs from the real API in a way tests must not
//! depend on: gcp-storage-emulator ignores every field of a bucket insert but its name, while
//! Cloud Storage applies labels, lifecycle and the rest atomically with the create. The proxy
//! completes such an insert with a PATCH before answering, so a client killed right after the
//! insert leaves the bucket Google would have left.
//!
//! And one addition: bqemulator has no cost model (every query processes 0 bytes). With
//! `bytes_per_query` set, `jobs.query` answers report that many bytes processed — and billed,
//! unless a dry run — so byte budgets can be tested against the real emulator.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, header};
use percent_encoding::utf8_percent_encode;
use serde_json::{Map, Value};

use crate::discovery::Matched;
use crate::reply::Reply;
use crate::server::Forward;

/// What a path segment must escape: all but RFC 3986's unreserved characters.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Clone)]
pub(crate) struct Proxy {
    /// Upstream root without a trailing slash, e.g. `http://127.0.0.1:9050`.
    upstream: String,
    client: reqwest::Client,
    bytes_per_query: Option<u64>,
}

/// Headers that describe one hop, not the message.
fn hop_by_hop(name: &header::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

impl Proxy {
    pub fn new(upstream: &str) -> Proxy {
        let client = reqwest::Client::builder()
            // HTTP(S)_PROXY in a developer's environment must not capture loopback traffic.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("a plain HTTP client builds");
        Proxy {
            upstream: upstream.trim_end_matches('/').to_string(),
            client,
            bytes_per_query: None,
        }
    }

    pub fn with_bytes_per_query(mut self, bytes: Option<u64>) -> Proxy {
        self.bytes_per_query = bytes;
        self
    }

    /// A query, answered with the configured bytes processed (and billed, when it ran).
    async fn query(
        &self,
        matched: &Matched,
        parts: &http::request::Parts,
        body: Bytes,
        bytes: u64,
    ) -> Reply {
        let mut reply = self.send(parts, body).await;
        if !(200..300).contains(&reply.status) {
            return reply;
        }
        let Ok(Value::Object(mut answer)) = serde_json::from_slice::<Value>(&reply.body) else {
            return reply;
        };
        answer.insert(
            "totalBytesProcessed".into(),
            Value::String(bytes.to_string()),
        );
        if matched.body.get("dryRun") != Some(&Value::Bool(true)) {
            answer.insert("totalBytesBilled".into(), Value::String(bytes.to_string()));
        }
        reply.body = Bytes::from(serde_json::to_vec(&Value::Object(answer)).unwrap_or_default());
        reply
    }

    async fn send(&self, parts: &http::request::Parts, body: Bytes) -> Reply {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        self.send_to(&parts.headers, parts.method.clone(), path, body)
            .await
    }

    async fn send_to(
        &self,
        headers: &HeaderMap,
        method: http::Method,
        path: &str,
        body: Bytes,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.upstream))
            .body(body);
        for (name, value) in headers {
            if !hop_by_hop(name) {
                request = request.header(name, value);
            }
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return Reply::error(
                    502,
                    "UNAVAILABLE",
                    format!("gcp-fakes proxy: upstream {} failed: {e}", self.upstream),
                );
            }
        };
        let status = response.status().as_u16();
        let mut headers = response.headers().clone();
        let names: Vec<_> = headers.keys().filter(|n| hop_by_hop(n)).cloned().collect();
        for name in names {
            headers.remove(name);
        }
        match response.bytes().await {
            Ok(body) => Reply {
                status,
                headers: Box::new(headers),
                body,
            },
            Err(e) => Reply::error(
                502,
                "UNAVAILABLE",
                format!(
                    "gcp-fakes proxy: reading upstream {} failed: {e}",
                    self.upstream
                ),
            ),
        }
    }

    /// A bucket insert, then a PATCH of the requested fields the upstream did not keep. Runs
    /// as its own task: a client that disconnects mid-way must not leave half a bucket.
    async fn insert_bucket(
        &self,
        matched: &Matched,
        parts: &http::request::Parts,
        body: Bytes,
    ) -> Reply {
        let proxy = self.clone();
        let headers = parts.headers.clone();
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let wanted = matched.body.clone();
        let task = tokio::spawn(async move {
            let inserted = proxy
                .send_to(&headers, http::Method::POST, &path, body)
                .await;
            match dropped_fields(&wanted, &inserted) {
                Some((name, patch)) => {
                    let path =
                        format!("/storage/v1/b/{}", utf8_percent_encode(&name, PATH_SEGMENT));
                    let patch = Bytes::from(serde_json::to_vec(&patch).unwrap_or_default());
                    // The bucket exists now: a few tries, so it does not stay half made.
                    let mut reply = proxy
                        .send_to(&headers, http::Method::PATCH, &path, patch.clone())
                        .await;
                    for _ in 0..3 {
                        if (200..300).contains(&reply.status) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        reply = proxy
                            .send_to(&headers, http::Method::PATCH, &path, patch.clone())
                            .await;
                    }
                    reply
                }
                None => inserted,
            }
        });
        task.await.unwrap_or_else(|e| {
            Reply::error(
                500,
                "INTERNAL",
                format!("gcp-fakes proxy: bucket insert failed: {e}"),
            )
        })
    }
}

/// The bucket's name and the fields of `wanted` that a successful insert reply lacks.
fn dropped_fields(wanted: &Value, inserted: &Reply) -> Option<(String, Value)> {
    if !(200..300).contains(&inserted.status) {
        return None;
    }
    let Ok(Value::Object(made)) = serde_json::from_slice::<Value>(&inserted.body) else {
        return None;
    };
    let name = wanted.get("name")?.as_str()?.to_string();
    let dropped: Map<String, Value> = wanted
        .as_object()?
        .iter()
        .filter(|(k, v)| *k != "name" && made.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!dropped.is_empty()).then_some((name, Value::Object(dropped)))
}

impl Forward for Proxy {
    fn forward<'a>(
        &'a self,
        matched: &'a Matched,
        parts: &'a http::request::Parts,
        body: Bytes,
    ) -> Pin<Box<dyn Future<Output = Reply> + Send + 'a>> {
        match (matched.id.as_str(), self.bytes_per_query) {
            ("storage.buckets.insert", _) => Box::pin(self.insert_bucket(matched, parts, body)),
            ("bigquery.jobs.query", Some(bytes)) => {
                Box::pin(self.query(matched, parts, body, bytes))
            }
            _ => Box::pin(self.send(parts, body)),
        }
    }
}
