//! The list prices bqflow estimates with: USD, region us-central1 / BigQuery's US
//! multi-region, on-demand, without free tiers (an estimate should not depend on what else the
//! billing account runs). One table: change a number here and every estimate follows. Each
//! line names the page it comes from; `SEEN` is when they were read. Google changes prices;
//! check the pages before relying on a figure.

/// When the figures below were read off the pages they cite.
pub const SEEN: &str = "2026-12-02";

/// A price and where it comes from.
#[derive(Clone, Copy, Debug)]
pub struct Price {
    pub usd: f64,
    pub per: &'static str,
    pub source: &'static str,
}

const PUBSUB: &str = "https://cloud.google.com/pubsub/pricing";
const DATAFLOW: &str = "https://cloud.google.com/dataflow/pricing";
const BIGQUERY: &str = "https://cloud.google.com/bigquery/pricing";

/// Pub/Sub message ingestion and delivery ("Message Delivery Basic"); the first 10 GiB a
/// month are free.
pub const PUBSUB_THROUGHPUT: Price = Price {
    usd: 40.0,
    per: "TiB published or delivered",
    source: PUBSUB,
};

/// Pub/Sub bills at least this many bytes per publish or pull request.
pub const PUBSUB_MIN_BYTES_PER_REQUEST: f64 = 1000.0;

/// A BigQuery subscription's throughput: reading from the subscription and writing into the
/// table ("no additional BigQuery data ingestion charges"). Publishing is still
/// `PUBSUB_THROUGHPUT`.
pub const PUBSUB_BIGQUERY_SUBSCRIPTION: Price = Price {
    usd: 50.0,
    per: "TiB written by a BigQuery subscription",
    source: PUBSUB,
};

/// Dataflow streaming worker vCPU.
pub const DATAFLOW_STREAMING_VCPU: Price = Price {
    usd: 0.069,
    per: "vCPU-hour (streaming)",
    source: DATAFLOW,
};

/// Dataflow worker memory.
pub const DATAFLOW_MEMORY: Price = Price {
    usd: 0.003557,
    per: "GB-hour",
    source: DATAFLOW,
};

/// Dataflow worker persistent disk (standard).
pub const DATAFLOW_DISK: Price = Price {
    usd: 0.000054,
    per: "GB-hour (standard persistent disk)",
    source: DATAFLOW,
};

/// A streaming job's disk per worker without Streaming Engine (Google's template launches
/// do not turn it on).
pub const DATAFLOW_STREAMING_DISK_GB: f64 = 400.0;

/// The worker machine when a pipeline names none (streaming, without Streaming Engine).
pub const DATAFLOW_DEFAULT_MACHINE: &str = "n1-standard-4";

/// vCPUs and GB of memory of the machine types pipelines commonly use
/// (https://cloud.google.com/compute/docs/general-purpose-machines).
pub fn machine(name: &str) -> Option<(f64, f64)> {
    Some(match name {
        "n1-standard-1" => (1.0, 3.75),
        "n1-standard-2" => (2.0, 7.5),
        "n1-standard-4" => (4.0, 15.0),
        "n1-standard-8" => (8.0, 30.0),
        "n1-highmem-2" => (2.0, 13.0),
        "n1-highmem-4" => (4.0, 26.0),
        "n2-standard-2" | "e2-standard-2" => (2.0, 8.0),
        "n2-standard-4" | "e2-standard-4" => (4.0, 16.0),
        "n2-standard-8" | "e2-standard-8" => (8.0, 32.0),
        _ => return None,
    })
}

/// Rows written by BigQuery's legacy streaming inserts (`tabledata.insertAll`), which
/// Google's Pub/Sub-to-BigQuery template uses: $0.01 per 200 MiB.
pub const BIGQUERY_STREAMING_INSERTS: Price = Price {
    usd: 0.05,
    per: "GiB streamed (each row billed as at least 1 KB)",
    source: BIGQUERY,
};

/// Streaming inserts bill each row as at least this many bytes.
pub const BIGQUERY_STREAMING_MIN_ROW_BYTES: f64 = 1024.0;

/// Active logical storage, US multi-region (us-central1: $0.023).
pub const BIGQUERY_ACTIVE_STORAGE: Price = Price {
    usd: 0.02,
    per: "GiB-month (active logical storage)",
    source: BIGQUERY,
};

/// On-demand queries, by bytes processed; also what a materialized view's refresh costs.
pub const BIGQUERY_ON_DEMAND: Price = Price {
    usd: 6.25,
    per: "TiB processed (on-demand)",
    source: BIGQUERY,
};

/// On-demand queries bill at least 10 MB per table they read.
pub const BIGQUERY_MIN_BYTES_PER_TABLE: f64 = 10.0 * 1024.0 * 1024.0;

/// Hours in the month bqflow's monthly figures use (Google's calculator uses 730).
pub const HOURS_PER_MONTH: f64 = 730.0;

pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
pub const TIB: f64 = 1024.0 * GIB;
