//! Dashboards: the pipeline's last stage. A dashboard of the spec (`spec/dashboard.rs`) is
//! prepared into a [`board::Board`] (queries rendered, parameters resolved), refreshed on the
//! target through the backend's batch queries (`refresh.rs`), drawn as HTML and SVG on the
//! server (`html.rs`, `panel.rs`, `chart/`), and served with live updates (`server.rs`) or
//! exported as one self-contained file. On gcp, `looker.rs` links the same views into a
//! Looker Studio report.

pub mod board;
pub mod chart;
pub mod columns;
pub mod format;
pub mod html;
pub mod looker;
pub mod panel;
pub mod refresh;
pub mod server;
