//! Problems in user input (the spec, templates, flags), rendered the way compilers do:
//! `file:line:col`, the offending line with a caret under the text, and a hint.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::spec::located::Pos;

#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub pos: Pos,
    pub message: String,
    /// The text the caret underlines, when known.
    pub culprit: Option<String>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(file: &Path, pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            pos,
            message: message.into(),
            culprit: None,
            hint: None,
        }
    }

    /// The offending text, underlined in the rendering.
    pub fn culprit(&mut self, text: impl Into<String>) -> &mut Self {
        self.culprit = Some(text.into());
        self
    }

    pub fn hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }

    /// Renders with the source line when the file can be read.
    fn render(&self, f: &mut fmt::Formatter<'_>, source: Option<&str>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        if !self.pos.known() {
            writeln!(f, "  --> {}", self.file.display())?;
        } else {
            writeln!(
                f,
                "  --> {}:{}:{}",
                self.file.display(),
                self.pos.line,
                self.pos.column
            )?;
            if let Some(line) = source.and_then(|s| s.lines().nth(self.pos.line as usize - 1)) {
                let number = self.pos.line.to_string();
                let pad = " ".repeat(number.len());
                let line = line.replace('\t', " ");
                let col = (self.pos.column as usize).saturating_sub(1);
                let width = self
                    .culprit
                    .as_deref()
                    .filter(|c| line.chars().skip(col).collect::<String>().starts_with(c))
                    .map_or(1, |c| c.chars().count().max(1));
                writeln!(f, "{pad} |")?;
                writeln!(f, "{number} | {line}")?;
                writeln!(f, "{pad} | {}{}", " ".repeat(col), "^".repeat(width))?;
            }
        }
        if let Some(hint) = &self.hint {
            writeln!(f, "  = help: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in one pass, so a user fixes them all in one go.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub list: Vec<Diagnostic>,
}

/// At most this many are printed: the whole report stays on one screen.
const SHOWN: usize = 8;

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
    pub fn into_result(self) -> Result<(), Diagnostics> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics { list: vec![d] }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sorted: Vec<&Diagnostic> = self.list.iter().collect();
        sorted.sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
        sorted.dedup_by(|a, b| a.file == b.file && a.pos == b.pos && a.message == b.message);
        let mut cached: Option<(PathBuf, Option<String>)> = None;
        for (i, d) in sorted.iter().take(SHOWN).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            if cached.as_ref().is_none_or(|(p, _)| p != &d.file) {
                cached = Some((d.file.clone(), std::fs::read_to_string(&d.file).ok()));
            }
            d.render(f, cached.as_ref().and_then(|(_, s)| s.as_deref()))?;
        }
        if sorted.len() > SHOWN {
            writeln!(f, "\n... and {} more problems", sorted.len() - SHOWN)?;
        }
        if sorted.len() > 1 {
            write!(f, "\n{} problems found", sorted.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
