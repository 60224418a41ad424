//! BigQuery v2: datasets, tables, views and queries (docs/gcp-apis.md#bigquery; discovery
//! `bigquery.v2.json`).

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::api::{Api, ApiError, Repeat, Request};
use super::endpoints::Service;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DatasetReference {
    pub project_id: String,
    pub dataset_id: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    pub dataset_reference: DatasetReference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// int64 as a JSON string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_table_expiration_ms: Option<String>,
    /// Who may do what; read to grant the Pub/Sub service agent write access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<Vec<Value>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TableReference {
    pub project_id: String,
    pub dataset_id: String,
    pub table_id: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    /// What bqflow does not set (policy tags, default values, collation…), kept as the API
    /// returned it so that patching a schema to add a column leaves the others as they were.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Schema {
    #[serde(default)]
    pub fields: Vec<Field>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TimePartitioning {
    #[serde(rename = "type")]
    pub partition_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_ms: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Clustering {
    #[serde(default)]
    pub fields: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ViewDefinition {
    pub query: String,
    /// Defaults to true on the server: always sent as false.
    #[serde(default)]
    pub use_legacy_sql: bool,
}

/// `Table.materializedView` (discovery: MaterializedViewDefinition).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MaterializedViewDefinition {
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_refresh: Option<bool>,
    /// int64 as a decimal string, as the API sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval_ms: Option<String>,
    /// Output only.
    #[serde(default, skip_serializing)]
    pub last_refresh_time: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    pub table_reference: TableReference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Schema>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_partitioning: Option<TimePartitioning>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clustering: Option<Clustering>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<ViewDefinition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub materialized_view: Option<MaterializedViewDefinition>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Output only: TABLE, VIEW, …
    #[serde(default, rename = "type", skip_serializing)]
    pub table_type: Option<String>,
    /// Output only; excludes rows still in the streaming buffer.
    #[serde(default, skip_serializing)]
    pub num_rows: Option<String>,
    /// Output only: `{estimatedRows, oldestEntryTime}` while streamed rows are buffered.
    #[serde(default, skip_serializing)]
    pub streaming_buffer: Option<serde_json::Value>,
}

fn dataset_path(project: &str, dataset: &str) -> String {
    format!("projects/{project}/datasets/{dataset}")
}

fn table_path(project: &str, dataset: &str, table: &str) -> String {
    format!("projects/{project}/datasets/{dataset}/tables/{table}")
}

pub async fn get_dataset(
    api: &Api,
    project: &str,
    dataset: &str,
) -> Result<Option<Dataset>, ApiError> {
    api.get(Service::BigQuery, dataset_path(project, dataset))
        .await
}

pub async fn insert_dataset(api: &Api, project: &str, ds: &Dataset) -> Result<Dataset, ApiError> {
    let req = Request::new(
        Service::BigQuery,
        Method::POST,
        format!("projects/{project}/datasets"),
    )
    .body(serde_json::to_value(ds).expect("serializable"))
    .repeat(Repeat::CreateThenSettle);
    api.create_or_read(&req, || {
        get_dataset(api, project, &ds.dataset_reference.dataset_id)
    })
    .await
}

/// Patches only the fields present in `patch`.
pub async fn patch_dataset(
    api: &Api,
    project: &str,
    dataset: &str,
    patch: Value,
) -> Result<Dataset, ApiError> {
    let req = Request::new(
        Service::BigQuery,
        Method::PATCH,
        dataset_path(project, dataset),
    )
    .body(patch);
    api.call_as(&req).await
}

pub async fn delete_dataset(api: &Api, project: &str, dataset: &str) -> Result<bool, ApiError> {
    let req = Request::new(
        Service::BigQuery,
        Method::DELETE,
        dataset_path(project, dataset),
    )
    .query("deleteContents", "true");
    gone(api.call(&req).await)
}

/// Datasets of the project carrying a label (server-side filter `labels.key:value`).
pub async fn list_datasets_labelled(
    api: &Api,
    project: &str,
    key: &str,
    value: &str,
) -> Result<Vec<String>, ApiError> {
    let req = Request::new(
        Service::BigQuery,
        Method::GET,
        format!("projects/{project}/datasets"),
    )
    .query("filter", format!("labels.{key}:{value}"))
    .query("maxResults", "1000");
    let datasets = api.list(&req, "datasets").await?;
    Ok(datasets
        .iter()
        .filter_map(|d| {
            d.pointer("/datasetReference/datasetId")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .collect())
}

/// A dataset's tables and views (`tables.list`, every page): ids, and labels where the list
/// shows them (Google's does; a table without labels has none to show).
pub async fn list_tables(
    api: &Api,
    project: &str,
    dataset: &str,
) -> Result<Vec<(String, Option<BTreeMap<String, String>>)>, ApiError> {
    let req = Request::new(
        Service::BigQuery,
        Method::GET,
        format!("{}/tables", dataset_path(project, dataset)),
    )
    .query("maxResults", "1000");
    let tables = api.list(&req, "tables").await?;
    Ok(tables
        .iter()
        .filter_map(|t| {
            let id = t.pointer("/tableReference/tableId")?.as_str()?.to_string();
            let labels = t
                .get("labels")
                .and_then(|l| serde_json::from_value(l.clone()).ok());
            Some((id, labels))
        })
        .collect())
}

/// A dataset's routines (`routines.list`): ids. bqflow makes none.
pub async fn list_routines(
    api: &Api,
    project: &str,
    dataset: &str,
) -> Result<Vec<String>, ApiError> {
    list_ids(
        api,
        project,
        dataset,
        "routines",
        "/routineReference/routineId",
    )
    .await
}

/// A dataset's BigQuery ML models (`models.list`): ids. bqflow makes none.
pub async fn list_models(api: &Api, project: &str, dataset: &str) -> Result<Vec<String>, ApiError> {
    list_ids(api, project, dataset, "models", "/modelReference/modelId").await
}

async fn list_ids(
    api: &Api,
    project: &str,
    dataset: &str,
    collection: &str,
    id: &str,
) -> Result<Vec<String>, ApiError> {
    let req = Request::new(
        Service::BigQuery,
        Method::GET,
        format!("{}/{collection}", dataset_path(project, dataset)),
    )
    .query("maxResults", "1000");
    Ok(api
        .list(&req, collection)
        .await?
        .iter()
        .filter_map(|r| r.pointer(id)?.as_str().map(String::from))
        .collect())
}

pub async fn get_table(
    api: &Api,
    project: &str,
    dataset: &str,
    table: &str,
) -> Result<Option<Table>, ApiError> {
    api.get(Service::BigQuery, table_path(project, dataset, table))
        .await
}

pub async fn insert_table(api: &Api, project: &str, t: &Table) -> Result<Table, ApiError> {
    let r = &t.table_reference;
    let req = Request::new(
        Service::BigQuery,
        Method::POST,
        format!("projects/{project}/datasets/{}/tables", r.dataset_id),
    )
    .body(serde_json::to_value(t).expect("serializable"))
    .repeat(Repeat::CreateThenSettle);
    api.create_or_read(&req, || get_table(api, project, &r.dataset_id, &r.table_id))
        .await
}

pub async fn patch_table(
    api: &Api,
    project: &str,
    dataset: &str,
    table: &str,
    patch: Value,
) -> Result<Table, ApiError> {
    let req = Request::new(
        Service::BigQuery,
        Method::PATCH,
        table_path(project, dataset, table),
    )
    .body(patch);
    api.call_as(&req).await
}

pub async fn delete_table(
    api: &Api,
    project: &str,
    dataset: &str,
    table: &str,
) -> Result<bool, ApiError> {
    gone(
        api.call(&Request::new(
            Service::BigQuery,
            Method::DELETE,
            table_path(project, dataset, table),
        ))
        .await,
    )
}

fn gone(result: Result<Value, ApiError>) -> Result<bool, ApiError> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

/// A query job: GoogleSQL, labelled, with a request id so a retry is the same job. Returns once
/// the job is done, with the first page of results (rows are strings per BigQuery's JSON
/// encoding).
pub struct QueryOptions<'a> {
    pub location: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub maximum_bytes_billed: Option<u64>,
    pub parameters: Vec<Value>,
    pub dry_run: bool,
    /// Rows in the first page (later pages come from getQueryResults).
    pub max_results: Option<usize>,
    /// Where unqualified table names resolve (`bq query --dataset_id`): the spec's dataset.
    pub default_dataset: Option<&'a str>,
}

impl<'a> QueryOptions<'a> {
    /// For a statement bqflow itself runs (DDL, the dimension rows' DML): labelled, no byte
    /// cap, no parameters, no result rows wanted.
    pub fn statement(location: &'a str, labels: &'a BTreeMap<String, String>) -> Self {
        QueryOptions {
            location,
            labels,
            maximum_bytes_billed: None,
            parameters: vec![],
            dry_run: false,
            max_results: None,
            default_dataset: None,
        }
    }
}

pub async fn query(
    api: &Api,
    project: &str,
    sql: &str,
    o: &QueryOptions<'_>,
) -> Result<Value, ApiError> {
    let mut body = json!({
        "query": sql,
        "useLegacySql": false,
        "location": o.location,
        "labels": o.labels,
        "requestId": request_id(),
        "timeoutMs": 60000,
        "dryRun": o.dry_run,
        "formatOptions": { "useInt64Timestamp": true },
    });
    if let Some(max) = o.maximum_bytes_billed {
        body["maximumBytesBilled"] = json!(max.to_string());
    }
    if let Some(rows) = o.max_results {
        body["maxResults"] = json!(rows);
    }
    if let Some(dataset) = o.default_dataset {
        body["defaultDataset"] = json!({ "projectId": project, "datasetId": dataset });
    }
    if !o.parameters.is_empty() {
        body["parameterMode"] = json!("NAMED");
        body["queryParameters"] = json!(o.parameters);
    }
    // Same requestId on every attempt: BigQuery runs it at most once.
    let req = Request::new(
        Service::BigQuery,
        Method::POST,
        format!("projects/{project}/queries"),
    )
    .body(body)
    .repeat(Repeat::Safe);
    let mut response = api.call(&req).await?;
    // Not done within the request's timeout (DML and big scans can take longer): wait on
    // getQueryResults, which answers once the job is done or its own timeout passes.
    while !o.dry_run && response.get("jobComplete") == Some(&Value::Bool(false)) {
        let job = response
            .pointer("/jobReference/jobId")
            .and_then(Value::as_str);
        let Some(job) = job else { break };
        let location = response
            .pointer("/jobReference/location")
            .and_then(Value::as_str)
            .unwrap_or(o.location);
        let wait = Request::new(
            Service::BigQuery,
            Method::GET,
            format!("projects/{project}/queries/{job}"),
        )
        .query("location", location)
        .query("timeoutMs", "10000")
        .query("formatOptions.useInt64Timestamp", "true");
        let wait = match o.max_results {
            Some(rows) => wait.query("maxResults", rows.to_string()),
            None => wait,
        };
        response = api.call(&wait).await?;
    }
    match job_error(&response, project) {
        Some(e) => Err(e),
        None => Ok(response),
    }
}

/// A finished query job's first error, as an API error (a 200 response can carry one).
fn job_error(response: &Value, project: &str) -> Option<ApiError> {
    let errors = response
        .get("errors")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())?;
    Some(ApiError {
        status: 400,
        code: None,
        reason: errors[0]
            .get("reason")
            .and_then(Value::as_str)
            .map(String::from),
        message: errors[0]
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("query failed")
            .to_string(),
        call: format!("bigquery POST projects/{project}/queries"),
    })
}

/// ≤ 36 ASCII characters, unique enough per attempt series.
fn request_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("bqflow-{:x}-{:x}", nanos, std::process::id())
}
