//! A fluent builder that runs the real `bqflow` binary in a scratch copy of the example project.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bqflow"))
}

/// A temporary folder holding the Black Friday example, written by `bqflow init`.
pub struct Project {
    pub dir: TempDir,
}

impl Project {
    pub fn example() -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new(bin())
            .arg("init")
            .arg(dir.path())
            .output()
            .expect("run bqflow init");
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path().join(file)).expect("read project file")
    }

    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.path().join(file), text).expect("write project file");
    }

    /// Replaces exactly one occurrence of `from` in a project file.
    pub fn edit(&self, file: &str, from: &str, to: &str) -> &Self {
        let text = self.read(file);
        assert_eq!(
            text.matches(from).count(),
            1,
            "`{from}` must occur once in {file}"
        );
        self.write(file, &text.replacen(from, to, 1));
        self
    }

    pub fn run(&self) -> Run {
        Run::new(self.path())
    }

    /// Runs a command that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.run().args(args).success().stdout
    }

    /// `query --sql` returning the single value of a one-row, one-column result.
    pub fn scalar(&self, sql: &str) -> String {
        let out = self.ok(&["query", "--format", "csv", "--sql", sql]);
        out.lines().nth(1).unwrap_or_default().to_string()
    }

    /// `scalar` for a number.
    pub fn count(&self, sql: &str) -> u64 {
        self.scalar(sql)
            .parse()
            .unwrap_or_else(|_| panic!("not a number from {sql}"))
    }

    /// Every generated id is in the facts exactly once: as many rows as distinct ids, and the
    /// ids are the consecutive numbers 1..=n (nothing lost in between). Returns the row count.
    pub fn assert_exactly_once(&self, table: &str, id: &str) -> u64 {
        let of = |what: &str| self.count(&format!("SELECT {what} FROM {{{{ ref(\"{table}\") }}}}"));
        let rows = of("count(*)");
        let distinct = of(&format!("count(DISTINCT {id})"));
        let highest = of(&format!(
            "coalesce(max(CAST(split_part({id}, '-', 2) AS BIGINT)), 0)"
        ));
        assert_eq!(rows, distinct, "{table}: duplicated ids");
        assert_eq!(rows, highest, "{table}: ids missing below the highest");
        rows
    }
}

/// Polls `condition` every 20 ms until it holds, for at most `timeout` (a condition to wait
/// for, never a fixed sleep); panics with `what` when it does not.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "waited {timeout:?} for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub struct Run {
    cmd: Command,
    shown: Vec<String>,
}

pub struct Done {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn new(dir: &Path) -> Run {
        let mut cmd = Command::new(bin());
        cmd.current_dir(dir).env("NO_COLOR", "1");
        // Each test says which peers it talks to; nothing leaks in from the caller's shell.
        for var in [
            "BQFLOW_TARGET",
            "GOOGLE_CLOUD_PROJECT",
            "PUBSUB_EMULATOR_HOST",
            "BIGQUERY_EMULATOR_HOST",
            "STORAGE_EMULATOR_HOST",
            "BQFLOW_DATAFLOW_ENDPOINT",
            "BQFLOW_SERVICEUSAGE_ENDPOINT",
            "BQFLOW_RESOURCEMANAGER_ENDPOINT",
        ] {
            cmd.env_remove(var);
        }
        Run { cmd, shown: vec![] }
    }

    pub fn env(mut self, key: &str, value: &str) -> Run {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Run {
        self.cmd.env_remove(key);
        self
    }

    pub fn args(mut self, args: &[&str]) -> Run {
        self.cmd.args(args);
        self.shown.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn output(mut self) -> Done {
        let Output {
            status,
            stdout,
            stderr,
        } = self.cmd.output().expect("run bqflow");
        Done {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    pub fn success(self) -> Done {
        let shown = self.shown.join(" ");
        let done = self.output();
        assert_eq!(
            done.code, 0,
            "`bqflow {shown}` failed:\n{}\n{}",
            done.stdout, done.stderr
        );
        done
    }

    /// Runs and asserts the exit code.
    pub fn code(self, code: i32) -> Done {
        let shown = self.shown.join(" ");
        let done = self.output();
        assert_eq!(
            done.code, code,
            "`bqflow {shown}`:\nstdout: {}\nstderr: {}",
            done.stdout, done.stderr
        );
        done
    }
}

/// A `bqflow` running in the background (a server, a long `generate`). Killed when dropped.
pub struct Running {
    child: Child,
    shown: String,
    lines: Receiver<String>,
    err_lines: Receiver<String>,
    stdout: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Run {
    /// Starts the command without waiting for it.
    pub fn spawn(mut self) -> Running {
        let mut child = self
            .cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bqflow");
        let (send, lines) = channel();
        let out = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        let (send_err, err_lines) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(err);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                let text = String::from_utf8_lossy(&line).into_owned();
                sink.lock().unwrap().push_str(&text);
                let _ = send_err.send(text);
                line.clear();
            }
        });
        Running {
            child,
            shown: self.shown.join(" "),
            lines,
            err_lines,
            stdout: Vec::new(),
            stderr,
        }
    }
}

impl Running {
    /// Waits for a line of stdout containing `needle` (a readiness line) and returns it.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "`bqflow {}` printed no line with `{needle}` within {timeout:?}\nstdout: {}\nstderr: {}",
                    self.shown,
                    self.stdout.join("\n"),
                    self.stderr()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "`bqflow {}` ended without printing `{needle}`\nstdout: {}\nstderr: {}",
                    self.shown,
                    self.stdout.join("\n"),
                    self.stderr()
                ),
            }
        }
    }

    /// Waits for a line of stderr containing `needle` (a note such as "Generating into").
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.err_lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "`bqflow {}` printed no stderr line with `{needle}` within {timeout:?}\nstderr: {}",
                    self.shown,
                    self.stderr()
                ),
            }
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Whether the command is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("poll bqflow").is_none()
    }

    /// Waits until `condition` holds (polled), failing the test after `timeout`.
    pub fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut condition: impl FnMut() -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while !condition() {
            assert!(
                Instant::now() < deadline && self.is_running(),
                "`bqflow {}`: {what} did not happen within {timeout:?} while it ran\nstderr: {}",
                self.shown,
                self.stderr()
            );
        }
    }

    /// Sends Ctrl-C (SIGINT), as a user in the terminal would, and waits for the exit.
    pub fn interrupt(self) -> Done {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -INT failed");
        self.finish()
    }

    /// Kills the command (SIGKILL: a crash, no chance to clean up).
    pub fn kill(mut self) -> Done {
        let _ = self.child.kill();
        self.finish()
    }

    /// Waits for the command to end by itself.
    pub fn finish(mut self) -> Done {
        let status = self.child.wait().expect("wait for bqflow");
        // The reader threads end with the pipes; collect what is left.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.stdout.push(line);
        }
        Done {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout.join("\n"),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Done {
    /// Asserts stderr mentions every fragment.
    pub fn stderr_has(&self, fragments: &[&str]) -> &Self {
        for f in fragments {
            assert!(
                self.stderr.contains(f),
                "stderr lacks `{f}`:\n{}",
                self.stderr
            );
        }
        self
    }

    /// Asserts a clean user-facing error: one screen, no panic or backtrace.
    pub fn clean_error(&self) -> &Self {
        assert!(!self.stderr.contains("panicked"), "panic:\n{}", self.stderr);
        assert!(
            !self.stderr.contains("stack backtrace"),
            "backtrace:\n{}",
            self.stderr
        );
        assert!(
            self.stderr.lines().count() <= 40,
            "more than one screen:\n{}",
            self.stderr
        );
        self
    }
}
