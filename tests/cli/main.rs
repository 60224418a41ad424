//! Integration tests: the real binary, run as a user would, in scratch copies of the example.

mod bad_input;
mod browser;
mod cost;
mod dashboard;
mod gcp;
mod local;
mod ownership;
mod project_files;
mod schema_changes;
mod support;
