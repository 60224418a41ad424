//! A small JSON client for the tests. Every 200 response is checked against the method's
//! response schema, so the fakes cannot drift from the discovery documents either.

#![allow(dead_code)]

use gcp_fakes::Service;
use serde_json::Value;

pub struct Client {
    http: reqwest::Client,
    base: String,
    service: Service,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Value,
}

impl Response {
    /// `error.status` of Google's envelope.
    pub fn error_status(&self) -> &str {
        self.body["error"]["status"].as_str().unwrap_or("")
    }

    pub fn error_message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

impl Client {
    pub fn new(base: &str, service: Service) -> Client {
        Client::with_http(
            base,
            service,
            reqwest::Client::builder().no_proxy().build().unwrap(),
        )
    }

    pub fn with_http(base: &str, service: Service, http: reqwest::Client) -> Client {
        Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            service,
        }
    }

    /// Sends `method path` (path may carry a query) with an optional JSON body.
    pub async fn try_call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Result<Response> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.parse().unwrap(), url);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(b).unwrap());
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        if status == 200 {
            self.check_response(method, path, &body);
        }
        Ok(Response { status, body })
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Response {
        self.try_call(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    fn check_response(&self, method: &str, path: &str, body: &Value) {
        let (p, q) = path.split_once('?').unwrap_or((path, ""));
        // The request was valid (it got a 200), so it matches a method.
        let Ok(m) = self.service.discovery().validate(method, p, q, b"{}") else {
            return;
        };
        let problems = self.service.discovery().validate_response(&m.id, body);
        assert!(
            problems.is_empty(),
            "{} response does not fit its schema: {problems:?}\n{body}",
            m.id
        );
    }
}
