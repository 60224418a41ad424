//! `bqflow dashboard [NAME]`: serve a dashboard of the spec on 127.0.0.1 with live updates,
//! write one refresh to a self-contained HTML file (`--export`), or print the Looker Studio
//! link for its views (`--looker`, gcp).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::Global;
use super::context::{self, Context};
use crate::dashboard::board::{self, Board};
use crate::dashboard::html::{self, Mode};
use crate::dashboard::refresh::{Problem, Refresher, Snapshot};
use crate::dashboard::server::{self, Hub};
use crate::dashboard::{format, looker};
use crate::error::{Error, Result};
use crate::runtime::block_on;
use crate::ui::Ui;

#[derive(Args, Debug)]
pub struct DashboardArgs {
    /// A dashboard declared under `dashboards:` (default: the spec's only one).
    pub name: Option<String>,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 8321)]
    pub port: u16,
    /// Address to listen on. Anything but loopback lets other machines see the data and make
    /// the dashboard run its queries.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Open the dashboard in the default browser.
    #[arg(long)]
    pub open: bool,
    /// Write one refresh to FILE as a self-contained page (inline SVG, no external references) and exit.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["open", "looker"])]
    pub export: Option<PathBuf>,
    /// Print a Looker Studio link that creates a report over the dashboard's views, and exit (gcp).
    #[arg(long, conflicts_with = "open")]
    pub looker: bool,
}

pub fn run(ui: &Ui, g: &Global, args: DashboardArgs) -> Result<u8> {
    let ctx = context::load(g)?;
    let board = board::load(&ctx.project, &ctx.renderer, args.name.as_deref())?;
    // Every panel fits its query's columns, checked before anything runs.
    super::validate::engine_accepts(&ctx.project)?;
    if args.looker {
        return print_looker_link(&ctx, &board);
    }
    // "local · .bqflow" or "gcp · my-project": the header's first chip.
    let target = ctx.backend.label();
    let mut refresher = Refresher::new(&board, &ctx.backend, &ctx.plan);
    if let Some(file) = &args.export {
        let snapshot = block_on(refresh_or_fail(&mut refresher))?;
        return export(ui, &board, &target, &snapshot, file);
    }
    if !args.bind.is_loopback() {
        ui.warn(format!(
            "serving on {}: anyone who can reach this machine on port {} sees the data and makes the dashboard run its queries{}",
            args.bind,
            args.port,
            if ctx.backend.billing_project().is_some() {
                " (billed to your project)"
            } else {
                ""
            }
        ));
    }
    // Bind first, so a taken port is reported before any query runs.
    let listener = bind(args.bind, args.port)?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Runtime(e.into()))?;
    let first = block_on(refresh_or_fail(&mut refresher))?;
    let hub = Hub::new(server::publish(&board, &target, &first), addr);
    let url = format!("http://{addr}/");
    println!(
        "Serving dashboard `{}` on the {} at {url} — refreshes every {} while a page is open; Ctrl-C stops.",
        board.name,
        ctx.backend.location(),
        humantime::format_duration(board.refresh)
    );
    if args.open {
        open_browser(ui, &url);
    }
    std::thread::scope(|scope| {
        let (hub_ref, board_ref, target_ref) = (&hub, &board, target.as_str());
        scope.spawn(move || refresh_loop(hub_ref, refresher, board_ref, target_ref));
        let served = serve(hub.clone(), listener);
        hub.stop();
        served
    })?;
    ui.note("Dashboard stopped.");
    Ok(0)
}

/// The first refresh; one that cannot run at all (nothing provisioned, no credentials) is an
/// error before anything is served, not a page with nothing but an error on it.
async fn refresh_or_fail(refresher: &mut Refresher<'_>) -> Result<Snapshot> {
    let snapshot = refresher.refresh().await;
    match &snapshot.problem {
        Some(Problem::Failed(message)) => Err(Error::Runtime(anyhow::anyhow!("{message}"))),
        _ => Ok(snapshot),
    }
}

fn bind(ip: IpAddr, port: u16) -> Result<TcpListener> {
    let addr = SocketAddr::new(ip, port);
    TcpListener::bind(addr).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => Error::usage(format!(
            "port {port} on {ip} is already in use: pick another with --port (0 picks a free one)"
        )),
        std::io::ErrorKind::PermissionDenied => Error::usage(format!(
            "not allowed to listen on port {port} of {ip}: pick a port above 1023 with --port"
        )),
        std::io::ErrorKind::AddrNotAvailable => {
            Error::usage(format!("--bind {ip}: this machine has no such address"))
        }
        _ => Error::Runtime(anyhow::anyhow!("cannot listen on {addr}: {e}")),
    })
}

/// Refreshes while a page is open, at the dashboard's interval (start to start).
fn refresh_loop(hub: &Hub, mut refresher: Refresher, board: &Board, target: &str) {
    while !hub.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        if !hub.wait_for_viewers(Duration::from_secs(1)) {
            continue;
        }
        let snapshot = block_on(refresher.refresh());
        tracing::info!(
            "refresh {} took {:.2} s{}",
            snapshot.version,
            snapshot.took.as_secs_f64(),
            snapshot
                .problem
                .as_ref()
                .map_or(String::new(), |p| format!(": {}", p.message()))
        );
        hub.publish(server::publish(board, target, &snapshot));
        hub.pause(board.refresh.saturating_sub(snapshot.took));
    }
}

/// Serves until Ctrl-C; open event streams end so the shutdown does not wait on them.
fn serve(hub: Arc<Hub>, listener: TcpListener) -> Result<()> {
    block_on(async move {
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::Runtime(e.into()))?;
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(|e| Error::Runtime(e.into()))?;
        let stopper = hub.clone();
        axum::serve(listener, server::router(hub))
            .with_graceful_shutdown(async move {
                let _ = tokio::signal::ctrl_c().await;
                stopper.stop();
            })
            .await
            .map_err(|e| Error::Runtime(e.into()))
    })
}

/// Writes the snapshot as one file (written aside, then renamed: never half a page).
fn export(ui: &Ui, board: &Board, target: &str, snapshot: &Snapshot, file: &Path) -> Result<u8> {
    if let Some(problem) = &snapshot.problem {
        return Err(Error::Runtime(anyhow::anyhow!(
            "nothing exported: {}",
            problem.message()
        )));
    }
    let page = html::page(board, target, snapshot, Mode::Export);
    let temp = file.with_extension("html.partial");
    std::fs::write(&temp, &page)
        .and_then(|()| std::fs::rename(&temp, file))
        .map_err(|e| Error::usage(format!("cannot write {}: {e}", file.display())))?;
    let failed: Vec<&str> = board
        .panels
        .iter()
        .zip(&snapshot.panels)
        .filter(|(_, v)| v.failed)
        .map(|(p, _)| p.title.as_str())
        .collect();
    println!(
        "Wrote {} ({}, {} panels).",
        file.display(),
        format::bytes(page.len() as u64),
        board.panels.len()
    );
    if failed.is_empty() {
        Ok(0)
    } else {
        ui.warn(format!("these panels show an error: {}", failed.join(", ")));
        Ok(1)
    }
}

fn print_looker_link(ctx: &Context, board: &Board) -> Result<u8> {
    let Some(billing_project) = ctx.backend.billing_project() else {
        return Err(Error::usage(
            "--looker makes a Looker Studio report over BigQuery: add --target gcp",
        ));
    };
    let spec = ctx
        .project
        .dashboard(&board.name)
        .expect("the board is one of the spec's dashboards");
    let mut relations: Vec<String> = Vec::new();
    for q in &board.queries {
        for r in &q.rendered.refs {
            if !relations.contains(r) {
                relations.push(r.clone());
            }
        }
    }
    let looker_spec = spec.looker.as_ref();
    let sources = looker::sources(
        &relations,
        ctx.project.spec.dataset.name.as_str(),
        looker_spec,
    );
    let template = looker_spec.and_then(|l| l.template_report_id.as_ref().map(|t| t.as_str()));
    let report_name = looker_spec
        .and_then(|l| l.report_name.as_ref().map(|t| t.value.clone()))
        .unwrap_or_else(|| board.title.clone());
    println!(
        "{}",
        looker::url(billing_project, &report_name, template, &sources)
    );
    let list: Vec<String> = sources
        .iter()
        .map(|s| format!("{} = {}.{}", s.alias, s.dataset, s.table))
        .collect();
    eprintln!(
        "Open it to create the report \"{report_name}\" with {} BigQuery data sources ({}); then \"Edit and share\" saves it.",
        sources.len(),
        list.join(", ")
    );
    if template.is_none() && sources.len() > 1 {
        eprintln!(
            "note: Looker Studio documents several data sources for a template report; set `looker.template_report_id` to a report whose data sources have these aliases."
        );
    }
    Ok(0)
}

fn open_browser(ui: &Ui, url: &str) {
    let command = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(command)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        ui.warn(format!(
            "could not open a browser ({command}: {e}); open {url} yourself"
        ));
    }
}
