//! Terminal output: results on stdout, progress and notes on stderr, colour only on a terminal
//! (and never with NO_COLOR or --no-color). Progress bars hide themselves when stderr is not a
//! terminal, so logs and tests see plain result lines.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::plan::ResourceId;
use crate::plan::dag::{Outcome, Progress};

pub struct Ui {
    pub quiet: bool,
    pub verbose: u8,
    pub color: bool,
    interactive: bool,
}

impl Ui {
    pub fn new(quiet: bool, verbose: u8, no_color: bool) -> Ui {
        let interactive = std::io::stderr().is_terminal();
        let color =
            interactive && !no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Ui {
            quiet,
            verbose,
            color,
            interactive,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    pub fn red(&self, t: &str) -> String {
        self.paint("31", t)
    }
    pub fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }
    pub fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }

    /// A note for the user (stderr), hidden by --quiet.
    pub fn note(&self, text: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", text.as_ref());
        }
    }

    pub fn warn(&self, text: impl AsRef<str>) {
        eprintln!("{} {}", self.yellow("warning:"), text.as_ref());
    }

    /// Where progress bars draw: stderr when it is a terminal, nowhere otherwise.
    pub fn draw_target(&self) -> ProgressDrawTarget {
        if self.interactive && !self.quiet {
            ProgressDrawTarget::stderr_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        }
    }

    pub fn interactive(&self) -> bool {
        self.interactive
    }

    /// Asks a yes/no question on the terminal; without one, the answer is no.
    pub fn confirm(&self, question: &str) -> bool {
        if !std::io::stdin().is_terminal() {
            return false;
        }
        eprint!("{question} [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).is_ok()
            && matches!(answer.trim(), "y" | "Y" | "yes" | "YES")
    }
}

/// One spinner per resource while it runs, then a result line that stays.
pub struct StepProgress<'a> {
    ui: &'a Ui,
    multi: MultiProgress,
    bars: Mutex<HashMap<ResourceId, ProgressBar>>,
    verb: &'static str,
}

impl<'a> StepProgress<'a> {
    /// `verb` is shown while a step runs ("applying", "deleting").
    pub fn new(ui: &'a Ui, verb: &'static str) -> Self {
        StepProgress {
            ui,
            multi: MultiProgress::with_draw_target(ui.draw_target()),
            bars: Mutex::default(),
            verb,
        }
    }
}

impl Progress for StepProgress<'_> {
    fn started(&self, id: &ResourceId) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("template"));
        bar.set_message(format!("{} {id}", self.verb));
        bar.enable_steady_tick(Duration::from_millis(100));
        self.bars.lock().expect("bars").insert(id.clone(), bar);
    }

    fn finished(&self, id: &ResourceId, outcome: &Outcome) {
        if let Some(bar) = self.bars.lock().expect("bars").remove(id) {
            bar.finish_and_clear();
        }
        let line = match outcome {
            Outcome::Done(what, took) => format!(
                "{} {id}: {what} ({:.1}s)",
                self.ui.green("✓"),
                took.as_secs_f64()
            ),
            Outcome::Failed(e) => {
                format!("{} {id}: {}", self.ui.red("✗"), crate::error::describe(e))
            }
            Outcome::Skipped(dep) => {
                format!("{} {id}: skipped ({dep} failed)", self.ui.yellow("-"))
            }
        };
        self.multi.suspend(|| println!("{line}"));
    }
}
