//! Serving a dashboard: the page, its stylesheet and script, and `/events`, a server-sent event
//! stream on which every refresh is pushed to open pages. Refreshes run on their own thread
//! (a local refresh is blocking DuckDB work) and only while someone watches: a dashboard left
//! running with no page open costs no queries — which on BigQuery is money.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream::{self, Stream};
use tokio::sync::watch;

use super::html::{self, Mode};

/// What every open page gets: the rendered page (for a new visitor) and the update message.
pub struct Published {
    pub page: String,
    pub update: String,
}

/// Shared between the HTTP handlers and the refresh thread.
pub struct Hub {
    pub latest: watch::Sender<Arc<Published>>,
    viewers: AtomicUsize,
    /// Woken when the first viewer arrives, so an idle dashboard refreshes at once.
    wake: (Mutex<bool>, Condvar),
    pub stopping: AtomicBool,
    shutdown: watch::Sender<bool>,
    /// The Host headers accepted: only ours when bound to loopback (DNS-rebinding guard).
    allowed_hosts: Option<Vec<String>>,
}

impl Hub {
    pub fn new(first: Published, addr: SocketAddr) -> Arc<Hub> {
        let allowed_hosts = addr.ip().is_loopback().then(|| {
            // Browsers leave out the port when it is HTTP's default.
            let port = match addr.port() {
                80 => String::new(),
                p => format!(":{p}"),
            };
            ["127.0.0.1", "localhost", "[::1]"]
                .iter()
                .map(|host| format!("{host}{port}"))
                .collect()
        });
        Arc::new(Hub {
            latest: watch::channel(Arc::new(first)).0,
            viewers: AtomicUsize::new(0),
            wake: (Mutex::new(false), Condvar::new()),
            stopping: AtomicBool::new(false),
            shutdown: watch::channel(false).0,
            allowed_hosts,
        })
    }

    pub fn publish(&self, published: Published) {
        self.latest.send_replace(Arc::new(published));
    }

    /// Blocks the refresh thread until someone watches or the server stops; true if watched.
    pub fn wait_for_viewers(&self, timeout: Duration) -> bool {
        let (lock, cvar) = &self.wake;
        let mut woken = lock.lock().expect("wake lock");
        if self.viewers.load(Ordering::SeqCst) == 0 && !self.stopping.load(Ordering::SeqCst) {
            woken = cvar.wait_timeout(woken, timeout).expect("wake lock").0;
        }
        *woken = false;
        self.viewers.load(Ordering::SeqCst) > 0 && !self.stopping.load(Ordering::SeqCst)
    }

    /// Sleeps the refresh interval, returning early when the server stops.
    pub fn pause(&self, interval: Duration) {
        let (lock, cvar) = &self.wake;
        let guard = lock.lock().expect("wake lock");
        let _ = cvar
            .wait_timeout_while(guard, interval, |_| !self.stopping.load(Ordering::SeqCst))
            .expect("wake lock");
    }

    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.shutdown.send_replace(true);
        self.wake.1.notify_all();
    }

    fn arrived(&self) {
        if self.viewers.fetch_add(1, Ordering::SeqCst) == 0 {
            *self.wake.0.lock().expect("wake lock") = true;
            self.wake.1.notify_all();
        }
    }
}

/// Counts a page's event stream as a viewer for as long as it is open.
struct Viewer(Arc<Hub>);

impl Drop for Viewer {
    fn drop(&mut self) {
        self.0.viewers.fetch_sub(1, Ordering::SeqCst);
    }
}

pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/events", get(events))
        .route("/app.css", get(stylesheet))
        .route("/app.js", get(script))
        .layer(middleware::from_fn_with_state(hub.clone(), guard))
        .with_state(hub)
}

/// Security headers on every answer, and the Host check that keeps other websites from
/// reading a loopback dashboard through DNS rebinding.
async fn guard(State(hub): State<Arc<Hub>>, request: Request, next: Next) -> Response {
    if let Some(allowed) = &hub.allowed_hosts {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        if !allowed.iter().any(|a| a == host) {
            return (StatusCode::FORBIDDEN, "unexpected Host header\n").into_response();
        }
    }
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn page(State(hub): State<Arc<Hub>>) -> impl IntoResponse {
    let page = hub.latest.borrow().page.clone();
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page)
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        html::STYLESHEET,
    )
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        html::SCRIPT,
    )
}

/// The latest refresh at once, then every new one, until the page goes or the server stops.
async fn events(State(hub): State<Arc<Hub>>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    hub.arrived();
    let state = (
        hub.latest.subscribe(),
        hub.shutdown.subscribe(),
        Viewer(hub.clone()),
        true,
    );
    let stream = stream::unfold(
        state,
        |(mut latest, mut shutdown, viewer, first)| async move {
            if !first {
                tokio::select! {
                    changed = latest.changed() => changed.ok()?,
                    _ = shutdown.changed() => return None,
                }
            }
            let update = latest.borrow_and_update().update.clone();
            let event = Event::default().event("refresh").data(update);
            Some((Ok(event), (latest, shutdown, viewer, false)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The page for a new visitor and the message for open pages, from one snapshot.
pub fn publish(
    board: &super::board::Board,
    target: &str,
    snapshot: &super::refresh::Snapshot,
) -> Published {
    Published {
        page: html::page(board, target, snapshot, Mode::Live),
        update: html::update_message(board, target, snapshot),
    }
}
