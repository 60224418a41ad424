//! The one async runtime: built once, on first use (the CLI's first network or server call),
//! and shared by every command, the gcp publisher and the dashboard server. Synchronous code
//! (the CLI, the generator loop) enters it with `block_on`; nothing builds a runtime of its own.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The runtime (a worker thread per core).
pub fn get() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        Builder::new_multi_thread()
            .enable_all()
            .thread_name("bqflow-async")
            .build()
            .expect("a tokio runtime")
    })
}

/// Runs a future to completion from synchronous code (never from inside an async task).
pub fn block_on<F: Future>(f: F) -> F::Output {
    get().block_on(f)
}
