//! One listener per service, and the pipeline every request goes through:
//! latency → discovery validation → disabled-API check → fault → fake or upstream.
//!
//! Plain hyper rather than axum: routing comes from the discovery documents, and a
//! connection reset needs control over the socket, which a framework hides.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::future::Future;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::discovery::{Matched, Service};
use crate::faults::{FaultKind, FaultPlan, Faults};
use crate::record::{Log, RecordedRequest, Violation};
use crate::reply::Reply;

/// State every server shares.
pub(crate) struct Hub {
    pub log: Log,
    pub project: String,
    pub project_number: String,
    disabled: Mutex<BTreeSet<String>>,
}

impl Hub {
    pub fn new(
        project: String,
        project_number: String,
        disabled: &[String],
        record_bodies: bool,
    ) -> Hub {
        Hub {
            log: Log::new(record_bodies),
            project,
            project_number,
            disabled: Mutex::new(disabled.iter().cloned().collect()),
        }
    }

    pub fn is_enabled(&self, api: &str) -> bool {
        !self
            .disabled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(api)
    }

    pub fn set_enabled(&self, api: &str, enabled: bool) {
        let mut disabled = self.disabled.lock().unwrap_or_else(|e| e.into_inner());
        if enabled {
            disabled.remove(api);
        } else {
            disabled.insert(api.to_string());
        }
    }

    /// Whether `project` (id or number) is the configured project.
    pub fn is_project(&self, project: &str) -> bool {
        project == self.project || project == self.project_number
    }

    /// Google's answer when an API is disabled in the project.
    fn disabled_reply(&self, service: Service) -> Option<Reply> {
        let api = service.api();
        if service == Service::ServiceUsage || self.is_enabled(api) {
            return None;
        }
        let n = &self.project_number;
        Some(Reply::error_with(
            403,
            "PERMISSION_DENIED",
            format!(
                "{api} has not been used in project {n} before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/{api}/overview?project={n} then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry."
            ),
            json!({"details": [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SERVICE_DISABLED",
                "domain": "googleapis.com",
                "metadata": {"service": api, "consumer": format!("projects/{n}")},
            }]}),
        ))
    }
}

/// A fake API: a synchronous handler per matched method (state lives behind a mutex).
pub(crate) trait Api: Send + Sync {
    fn handle(&self, call: &Matched) -> Reply;
}

/// Forwards a validated request somewhere else (the proxy).
pub(crate) trait Forward: Send + Sync {
    fn forward<'a>(
        &'a self,
        matched: &'a Matched,
        parts: &'a http::request::Parts,
        body: Bytes,
    ) -> Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;
}

/// Sees the client's requests that a proxy forwarded successfully (the delivery worker
/// watches BigQuery schema changes this way).
pub(crate) trait Observe: Send + Sync {
    fn observe(&self, call: &Matched);
}

pub(crate) enum Handler {
    Fake(Arc<dyn Api>),
    Proxy(Arc<dyn Forward>),
}

pub(crate) struct Server {
    pub name: String,
    pub service: Service,
    pub handler: Handler,
    pub plan: Mutex<FaultPlan>,
    pub hub: Arc<Hub>,
    pub observer: Option<Arc<dyn Observe>>,
}

impl Server {
    pub fn set_faults(&self, faults: Faults) {
        *self.plan.lock().unwrap_or_else(|e| e.into_inner()) = FaultPlan::new(faults);
    }

    fn latency(&self) -> Duration {
        self.plan
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .faults
            .latency
    }

    fn decide(&self, method_id: &str) -> Option<FaultKind> {
        self.plan
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .decide(method_id)
    }

    async fn dispatch(
        &self,
        matched: &Matched,
        parts: &http::request::Parts,
        body: Bytes,
    ) -> Reply {
        match &self.handler {
            Handler::Fake(api) => api.handle(matched),
            Handler::Proxy(p) => {
                let reply = p.forward(matched, parts, body).await;
                if let Some(o) = &self.observer
                    && (200..300).contains(&reply.status)
                {
                    o.observe(matched);
                }
                reply
            }
        }
    }

    /// The request pipeline. `reset` asks the connection task to drop the socket with RST.
    async fn serve(&self, req: http::Request<Incoming>, reset: &Notify) -> Reply {
        let log = &self.hub.log;
        let mut in_flight = log.begin(&self.name);
        let (parts, body) = req.into_parts();
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return Reply::invalid("could not read the request body"),
        };
        let latency = self.latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let path = parts.uri.path().to_string();
        let query = parts.uri.query().unwrap_or("").to_string();
        let method = parts.method.as_str().to_string();
        let record = |method_id: Option<String>, body: Value, fault| RecordedRequest {
            seq: 0,
            server: self.name.clone(),
            method_id,
            http_method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            body,
            fault,
            status: None,
        };

        let matched = match self
            .service
            .discovery()
            .validate(&method, &path, &query, &body)
        {
            Ok(m) => m,
            Err(rejection) => {
                let reply = if rejection.method_id.is_none() {
                    Reply::not_found(format!("gcp-fakes: {}", rejection.problems.join("; ")))
                } else {
                    Reply::invalid(format!(
                        "gcp-fakes: request does not match the {} discovery document: {}",
                        self.service.name(),
                        rejection.problems.join("; ")
                    ))
                };
                let seq = log.request(record(
                    rejection.method_id.clone(),
                    body_for_log(&body),
                    None,
                ));
                log.finish(seq, reply.status);
                log.violation(Violation {
                    server: self.name.clone(),
                    method_id: rejection.method_id,
                    http_method: method.clone(),
                    path: path.clone(),
                    query: query.clone(),
                    problems: rejection.problems,
                });
                return reply;
            }
        };
        in_flight.set_method(&matched.id);
        let logged_body = if matched.media {
            body_for_log(&body)
        } else {
            matched.body.clone()
        };

        if let Some(reply) = self.hub.disabled_reply(self.service) {
            let seq = log.request(record(Some(matched.id.clone()), logged_body, None));
            log.finish(seq, reply.status);
            return reply;
        }

        let fault = self.decide(&matched.id);
        let seq = log.request(record(Some(matched.id.clone()), logged_body, fault));
        let reply = match fault {
            None => self.dispatch(&matched, &parts, body).await,
            Some(FaultKind::ConnectionReset) => {
                reset.notify_one();
                std::future::pending().await
            }
            Some(FaultKind::ResponseLost) => {
                let _applied = self.dispatch(&matched, &parts, body).await;
                reset.notify_one();
                std::future::pending().await
            }
            Some(FaultKind::Slow(delay)) => {
                let reply = self.dispatch(&matched, &parts, body).await;
                tokio::time::sleep(delay).await;
                reply
            }
            Some(kind) => injected_error(kind),
        };
        log.finish(seq, reply.status);
        reply
    }
}

/// The error bodies Google sends for these conditions (BigQuery-style `errors[]` included,
/// as the BigQuery and Storage front ends send it).
fn injected_error(kind: FaultKind) -> Reply {
    let (code, status, reason, message) = match kind {
        FaultKind::TooManyRequests => (
            429,
            "RESOURCE_EXHAUSTED",
            "rateLimitExceeded",
            "Quota exceeded (injected by gcp-fakes).",
        ),
        FaultKind::RateLimitExceeded => (
            403,
            "PERMISSION_DENIED",
            "rateLimitExceeded",
            "Exceeded rate limits: too many api requests per user per method for this user_method. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas (injected by gcp-fakes)",
        ),
        FaultKind::PermissionDenied => (
            403,
            "PERMISSION_DENIED",
            "accessDenied",
            "Access Denied: the caller does not have permission (injected by gcp-fakes).",
        ),
        FaultKind::Unimplemented => (
            501,
            "UNIMPLEMENTED",
            "notImplemented",
            "Method not implemented (injected by gcp-fakes).",
        ),
        FaultKind::Internal => (
            500,
            "INTERNAL",
            "backendError",
            "Internal error encountered (injected by gcp-fakes).",
        ),
        _ => (
            503,
            "UNAVAILABLE",
            "backendError",
            "The service is currently unavailable (injected by gcp-fakes).",
        ),
    };
    let domain = if reason == "rateLimitExceeded" {
        "usageLimits"
    } else {
        "global"
    };
    Reply::error_with(
        code,
        status,
        message,
        json!({"errors": [{"message": message, "domain": domain, "reason": reason}]}),
    )
}

/// Bodies that are not JSON are logged by size only.
fn body_for_log(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(format!("<{} bytes>", body.len())))
}

pub(crate) async fn accept_loop(listener: TcpListener, server: Arc<Server>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(stream, server.clone()));
            }
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn serve_connection(stream: TcpStream, server: Arc<Server>) {
    let _ = stream.set_nodelay(true);
    // A second descriptor for the socket: hyper owns the stream, but a reset must set
    // SO_LINGER=0 on it before it is closed.
    let dup: Option<OwnedFd> = stream.as_fd().try_clone_to_owned().ok();
    let reset = Arc::new(Notify::new());
    let service = {
        let reset = reset.clone();
        hyper::service::service_fn(move |req| {
            let server = server.clone();
            let reset = reset.clone();
            async move { Ok::<_, Infallible>(server.serve(req, &reset).await.into_response()) }
        })
    };
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let mut conn = pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = reset.notified() => {
            if let Some(fd) = &dup {
                let _ = socket2::SockRef::from(fd).set_linger(Some(Duration::ZERO));
            }
        }
    }
    // Dropping the connection (and then `dup`) closes the socket; with linger 0 the kernel
    // sends RST instead of FIN.
}
