//! The BigQuery upstream as the delivering pipelines use it: `tables.get`, `tables.insert`
//! and `tabledata.insertAll`, sent straight to the emulator rather than through the proxy,
//! so they are neither recorded as the client's requests nor hit by faults meant for it.
//! Transient failures (connection errors, 429, 5xx, 403 `rateLimitExceeded`) are retried a
//! few times with backoff; after that the caller counts the messages as failed.

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

/// Tries per request, and the first pause between them (doubled each time).
const ATTEMPTS: u32 = 4;
const BACKOFF: Duration = Duration::from_millis(100);

/// Path segments keep `-_.~` and `:` (domain-scoped project ids) unescaped.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b':');

/// A table, from `P:DS.T` (Dataflow templates) or `P.DS.T` (Pub/Sub `bigqueryConfig`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TableRef {
    pub project: String,
    pub dataset: String,
    pub table: String,
}

impl TableRef {
    pub fn parse(spec: &str) -> Option<TableRef> {
        // The colon form; a domain-scoped project (`example.com:p`) has a colon of its own,
        // so split at the last one.
        let colon = spec
            .rsplit_once(':')
            .and_then(|(p, rest)| Some((p, rest.split_once('.')?)))
            .filter(|(_, (_, t))| !t.contains('.'));
        let (project, dataset, table) = match colon {
            Some((p, (d, t))) => (p, d, t),
            None => {
                let mut parts = spec.rsplitn(3, '.');
                let (t, d, p) = (parts.next()?, parts.next()?, parts.next()?);
                (p, d, t)
            }
        };
        if [project, dataset, table].iter().any(|s| s.is_empty()) {
            return None;
        }
        Some(TableRef {
            project: project.into(),
            dataset: dataset.into(),
            table: table.into(),
        })
    }

    /// `P.DS.T`: how delivery statistics are keyed.
    pub fn key(&self) -> String {
        format!("{}.{}.{}", self.project, self.dataset, self.table)
    }

    fn path(&self) -> String {
        format!(
            "/bigquery/v2/projects/{}/datasets/{}/tables/{}",
            seg(&self.project),
            seg(&self.dataset),
            seg(&self.table)
        )
    }
}

fn seg(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// An error answer (after retries), or no answer.
pub(crate) struct Failure {
    /// HTTP status; `None` when the upstream could not be reached.
    pub status: Option<u16>,
    pub message: String,
}

pub(crate) struct Upstream {
    /// Root URL without a trailing slash, e.g. `http://127.0.0.1:9050`.
    root: String,
    client: reqwest::Client,
}

impl Upstream {
    pub fn new(root: &str) -> Upstream {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a plain HTTP client builds");
        Upstream {
            root: root.trim_end_matches('/').to_string(),
            client,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.root);
        let mut pause = BACKOFF;
        let mut attempt = 1;
        loop {
            let mut request = self.client.request(method.clone(), &url);
            if let Some(b) = body {
                request = request.json(b);
            }
            let failure = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let text = response.text().await.unwrap_or_default();
                    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    if (200..300).contains(&status) {
                        return Ok(value);
                    }
                    let message = value["error"]["message"]
                        .as_str()
                        .map_or_else(|| text.chars().take(200).collect(), String::from);
                    let rate_limited = value["error"]["errors"][0]["reason"] == "rateLimitExceeded";
                    let transient = status >= 500 || status == 429 || rate_limited;
                    let failure = Failure {
                        status: Some(status),
                        message: format!("{method} {path}: HTTP {status}: {message}"),
                    };
                    if !transient {
                        return Err(failure);
                    }
                    failure
                }
                Err(e) => Failure {
                    status: None,
                    message: format!("{method} {path}: {e}"),
                },
            };
            if attempt == ATTEMPTS {
                return Err(failure);
            }
            attempt += 1;
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }

    /// The table resource; `Ok(None)` when it does not exist.
    pub async fn get_table(&self, t: &TableRef) -> Result<Option<Value>, Failure> {
        match self.call(reqwest::Method::GET, &t.path(), None).await {
            Ok(v) => Ok(Some(v)),
            Err(Failure {
                status: Some(404), ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a table; one that already exists (a race with another writer) is fine.
    pub async fn create_table(&self, t: &TableRef, fields: &Value) -> Result<(), Failure> {
        let path = format!(
            "/bigquery/v2/projects/{}/datasets/{}/tables",
            seg(&t.project),
            seg(&t.dataset)
        );
        let body = json!({
            "tableReference": {"projectId": t.project, "datasetId": t.dataset, "tableId": t.table},
            "schema": {"fields": fields},
        });
        match self.call(reqwest::Method::POST, &path, Some(&body)).await {
            Ok(_)
            | Err(Failure {
                status: Some(409), ..
            }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Streams rows (insert id, row). `Ok` lists the rows BigQuery refused, by index, with
    /// the reason; the others were written.
    pub async fn insert_all(
        &self,
        t: &TableRef,
        rows: Vec<(String, Map<String, Value>)>,
    ) -> Result<Vec<(usize, String)>, Failure> {
        let rows: Vec<Value> = rows
            .into_iter()
            // insertId makes a retry after a lost answer idempotent
            // (docs/gcp-apis.md#retries-and-idempotency).
            .map(|(id, row)| json!({"insertId": id, "json": row}))
            .collect();
        let body = json!({"rows": rows, "skipInvalidRows": true});
        let answer = self
            .call(
                reqwest::Method::POST,
                &format!("{}/insertAll", t.path()),
                Some(&body),
            )
            .await?;
        let errors = answer["insertErrors"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        Ok(errors
            .iter()
            .filter_map(|e| {
                let index = usize::try_from(e["index"].as_u64()?).ok()?;
                Some((index, e["errors"].to_string()))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_specs() {
        let t = TableRef::parse("p:ds.t").unwrap();
        assert_eq!(t.key(), "p.ds.t");
        assert_eq!(TableRef::parse("p.ds.t"), Some(t));
        let domain = TableRef::parse("example.com:p:ds.t").unwrap();
        assert_eq!(domain.project, "example.com:p");
        assert_eq!(
            TableRef::parse("example.com:p.ds.t").unwrap().project,
            "example.com:p"
        );
        assert_eq!(TableRef::parse("ds.t"), None);
        assert_eq!(TableRef::parse("p:ds"), None);
        assert_eq!(TableRef::parse("p..t"), None);
    }
}
