//! One error type for the whole program. The variant decides the exit code, so every command
//! follows the same convention: 0 ok, 1 runtime failure, 2 bad input (spec, template or flag).

use crate::diagnostic::Diagnostics;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Problems in the spec or a template, each with a position.
    #[error("{0}")]
    Input(#[from] Diagnostics),
    /// A bad flag or argument value.
    #[error("error: {0}")]
    Usage(String),
    /// Anything that went wrong while doing the work.
    #[error("error: {}", describe(.0))]
    Runtime(anyhow::Error),
}

/// A problem in what the user configured that only shows while running (an endpoint that does
/// not answer, say). Raised inside backends as an `anyhow` error; exits with code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserInput(pub String);

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<UserInput>() {
            Ok(input) => Error::Usage(input.0),
            Err(e) => Error::Runtime(e),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its causes on one line (`a: b: c`), without the links that say nothing:
/// DuckDB's C API adds "Error code 1: Unknown error code" under every message.
pub fn describe(e: &anyhow::Error) -> String {
    let parts: Vec<String> = e
        .chain()
        .map(|cause| cause.to_string())
        .filter(|text| !(text.starts_with("Error code ") && text.ends_with(": Unknown error code")))
        .collect();
    parts.join(": ")
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage(message.into())
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Input(_) | Error::Usage(_) => 2,
            Error::Runtime(_) => 1,
        }
    }
}

/// `bail_usage!("--rate must be positive")` returns a usage error (exit code 2).
#[macro_export]
macro_rules! bail_usage {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::Usage(format!($($arg)*)))
    };
}
