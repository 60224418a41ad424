//! `gcp-fakes`: run the fakes by hand or for a benchmark, print their URLs and the
//! environment that points bqflow at them, then report discovery violations as they happen.

use std::process::ExitCode;
use std::time::Duration;

use gcp_fakes::{Config, DataflowTiming, Fakes, FaultKind, FaultRule, Faults, Service, Upstream};

const USAGE: &str = "\
usage: gcp-fakes [--port N] [--project ID] [--latency-ms MS] [--seed N]
                 [--upstream NAME=URL]... [--fault KIND=PROB[@METHOD-GLOB]]...
                 [--start-ms MS] [--drain-ms MS|never] [--no-bodies]

  --port N        first port (pubsub N, dataflow N+1, serviceusage N+2,
                  cloudresourcemanager N+3, upstreams from N+4); 0 = ephemeral
  --upstream      validating proxy; NAME is a service (bigquery, storage),
                  e.g. --upstream bigquery=http://127.0.0.1:9050
  --fault         KIND: 429 503 500 403 reset lost slow:MS, e.g. --fault 503=0.05@*.create
  --drain-ms      how long a Dataflow drain takes (never: it never finishes)
  --no-bodies     do not keep request bodies or published messages (long benchmarks)";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gcp-fakes: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn parse_ms(flag: &str, value: &str) -> Result<Option<Duration>, String> {
    if value == "never" {
        return Ok(None);
    }
    value
        .parse()
        .map(|ms| Some(Duration::from_millis(ms)))
        .map_err(|_| format!("{flag} takes milliseconds or `never`, not {value:?}"))
}

fn parse_fault(spec: &str) -> Result<FaultRule, String> {
    let (kind, rest) = spec
        .split_once('=')
        .ok_or(format!("--fault {spec:?}: expected KIND=PROB"))?;
    let (prob, methods) = match rest.split_once('@') {
        Some((p, m)) => (p, Some(m)),
        None => (rest, None),
    };
    let kind = FaultKind::parse(kind).ok_or(format!("--fault: unknown kind {kind:?}"))?;
    let p: f64 = prob
        .parse()
        .map_err(|_| format!("--fault: {prob:?} is not a probability"))?;
    let rule = FaultRule::probability(kind, p);
    Ok(match methods {
        Some(m) => rule.only([m]),
        None => rule,
    })
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut config = Config::default();
    let mut faults = Faults::none();
    let mut timing = DataflowTiming::default();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            return Ok(());
        }
        if flag == "--no-bodies" {
            config.record_bodies = false;
            config.keep_messages = false;
            continue;
        }
        const TAKES_VALUE: &[&str] = &[
            "--port",
            "--project",
            "--latency-ms",
            "--seed",
            "--fault",
            "--start-ms",
            "--drain-ms",
            "--upstream",
        ];
        if !TAKES_VALUE.contains(&flag.as_str()) {
            return Err(format!("unknown flag {flag}"));
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => config.port = value.parse().map_err(|_| format!("bad port {value:?}"))?,
            "--project" => config.project = value,
            "--latency-ms" => faults.latency = parse_ms(&flag, &value)?.unwrap_or_default(),
            "--seed" => faults.seed = value.parse().map_err(|_| format!("bad seed {value:?}"))?,
            "--fault" => faults.rules.push(parse_fault(&value)?),
            "--start-ms" => timing.start = parse_ms(&flag, &value)?,
            "--drain-ms" => timing.drain = parse_ms(&flag, &value)?,
            "--upstream" => {
                let (name, url) = value
                    .split_once('=')
                    .ok_or(format!("--upstream {value:?}: expected NAME=URL"))?;
                let service = Service::from_name(name)
                    .ok_or(format!("--upstream: {name:?} is not a service name"))?;
                config.upstreams.push(Upstream::new(name, url, service));
            }
            _ => unreachable!("checked against TAKES_VALUE"),
        }
    }
    config.faults = faults;
    config.dataflow = timing;
    let upstream_names: Vec<String> = config.upstreams.iter().map(|u| u.name.clone()).collect();
    let fakes = Fakes::start(config).map_err(|e| format!("cannot start: {e}"))?;

    for name in ["pubsub", "dataflow", "serviceusage", "cloudresourcemanager"]
        .into_iter()
        .chain(upstream_names.iter().map(String::as_str))
    {
        println!("{name:<22} {}", fakes.url(name).unwrap_or_default());
    }
    println!();
    for (k, v) in fakes.env() {
        println!("export {k}={v}");
    }

    // Report violations as they arrive; Ctrl-C ends the process.
    let mut reported = 0;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let violations = fakes.violations();
        for v in violations.iter().skip(reported) {
            eprintln!("violation: {v}");
        }
        reported = violations.len();
    }
}
