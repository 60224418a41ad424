//! The validating proxy: a request that passed discovery validation and fault injection is
//! forwarded unchanged (method, path, query, headers, body) to an upstream emulator, and
//! the upstream's answer is passed back unchanged.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::header;

use crate::reply::Reply;
use crate::server::Forward;

pub(crate) struct Proxy {
    /// Upstream root without a trailing slash, e.g. `http://127.0.0.1:9050`.
    upstream: String,
    client: reqwest::Client,
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
        }
    }

    async fn send(&self, parts: &http::request::Parts, body: Bytes) -> Reply {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = self
            .client
            .request(parts.method.clone(), format!("{}{path}", self.upstream))
            .body(body);
        for (name, value) in &parts.headers {
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
}

impl Forward for Proxy {
    fn forward<'a>(
        &'a self,
        parts: &'a http::request::Parts,
        body: Bytes,
    ) -> Pin<Box<dyn Future<Output = Reply> + Send + 'a>> {
        Box::pin(self.send(parts, body))
    }
}
