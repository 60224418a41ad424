//! A real browser for the dashboard tests: Debian's headless Chromium, driven over the Chrome
//! DevTools Protocol (a WebSocket on loopback). Tests read the DOM after the page's own script
//! ran, by evaluating JavaScript in the page — never the HTML the server first sent.
//!
//! A few CDP calls over `tungstenite` rather than a CDP crate: `headless_chrome` compiles the
//! whole protocol's generated bindings, which every CI run would pay for.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;
use tungstenite::{Message, WebSocket};

/// `BQFLOW_CHROMIUM` (set by `scripts/test`, which installs Debian's `chromium`), else the
/// `chromium` on the PATH.
fn chromium() -> PathBuf {
    let path = std::env::var_os("BQFLOW_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(|dir| dir.join("chromium"))
                .find(|p| p.is_file())
        });
    match path {
        Some(p) if p.exists() => p,
        _ => panic!(
            "the dashboard tests need a headless Chromium: run them with scripts/test (it installs Debian's `chromium`), or set BQFLOW_CHROMIUM"
        ),
    }
}

pub struct Browser {
    child: Child,
    socket: WebSocket<TcpStream>,
    next_id: u64,
    _profile: TempDir,
}

impl Browser {
    /// Starts Chromium and opens `url` in its page.
    pub fn open(url: &str) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--no-first-run",
                "--no-default-browser-check",
                "--window-size=1440,2000",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        // Chromium says where its DevTools endpoint listens on stderr.
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let port = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
                        break rest
                            .split('/')
                            .next()
                            .and_then(|p| p.parse::<u16>().ok())
                            .expect("a DevTools port");
                    }
                }
                _ => panic!("chromium exited before its DevTools endpoint was up"),
            }
        };
        // Keep draining stderr so Chromium never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let page = page_socket_url(port);
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to DevTools");
        let (socket, _) = tungstenite::client(page.as_str(), stream).expect("DevTools handshake");
        let mut browser = Browser {
            child,
            socket,
            next_id: 0,
            _profile: profile,
        };
        browser.call("Page.navigate", json!({ "url": url }));
        browser
    }

    /// Sends a DevTools command and waits for its answer (events in between are skipped).
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({ "id": id, "method": method, "params": params }).to_string();
        self.socket
            .send(Message::text(message))
            .expect("send to DevTools");
        loop {
            let message = self.socket.read().expect("read from DevTools");
            let Message::Text(text) = message else {
                continue;
            };
            let value: Value = serde_json::from_str(text.as_str()).expect("DevTools JSON");
            if value["id"] == id {
                assert!(
                    value.get("error").is_none(),
                    "{method} failed: {}",
                    value["error"]
                );
                return value["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression in the page (`null` if it threw).
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it is true; returns how long that took.
    pub fn wait_until(&mut self, expression: &str, timeout: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if self.eval(expression) == Value::Bool(true) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < timeout,
                "the page never satisfied `{expression}` within {timeout:?}; body: {}",
                self.eval("document.body ? document.body.innerText.slice(0, 2000) : ''")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    /// Asks Chromium to close, which ends its helper processes too; kills it only if it does
    /// not (killing the main process alone would leave the helpers behind).
    fn drop(&mut self) {
        let _ = self
            .socket
            .send(Message::text(r#"{"id":0,"method":"Browser.close"}"#));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The WebSocket URL of the browser's first page, from `/json/list`.
fn page_socket_url(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to DevTools");
        // In one write: Chromium's DevTools server drops a request that arrives in pieces.
        let request = format!(
            "GET /json/list HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .expect("ask for the page list");
        let body = read_http_body(&mut stream);
        let pages: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if let Some(url) = pages.as_array().and_then(|list| {
            list.iter()
                .find(|p| p["type"] == "page")
                .and_then(|p| p["webSocketDebuggerUrl"].as_str())
        }) {
            return url.to_string();
        }
        assert!(Instant::now() < deadline, "chromium listed no page");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The body of an HTTP answer, by its Content-Length: Chromium keeps the connection open even
/// when asked to close it.
fn read_http_body(stream: &mut TcpStream) -> String {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("read a header") == 0 {
            return String::new();
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("a Content-Length");
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("read the body");
    String::from_utf8_lossy(&body).into_owned()
}
