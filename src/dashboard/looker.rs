//! Looker Studio (Data Studio) has no API to build charts; its Linking API creates a report
//! from a URL, with BigQuery data sources configured by parameters
//! (https://developers.google.com/looker-studio/integrate/linking-api). bqflow links one
//! `TABLE` data source per view (or table) the dashboard's queries read.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::spec::dashboard::Looker;

/// The documented host and path; lookerstudio.google.com redirects to the product's current
/// name (Data Studio, since 2026), so links made before and after keep working.
pub const CREATE_URL: &str = "https://lookerstudio.google.com/reporting/create";

/// Everything but RFC 3986's unreserved characters is encoded, so values survive any parser.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// One data source: its alias in the report and the relation it reads.
pub struct Source {
    pub alias: String,
    pub dataset: String,
    pub table: String,
}

/// Aliases for the relations the dashboard reads, in order of first use: the spec's
/// `looker.data_sources` where it names one, else `ds0`, `ds1`… (skipping aliases taken).
pub fn sources(relations: &[String], dataset: &str, looker: Option<&Looker>) -> Vec<Source> {
    let named = |table: &str| {
        looker.and_then(|l| {
            l.data_sources
                .iter()
                .find(|(_, view)| view.as_str() == table)
                .map(|(alias, _)| alias.value.clone())
        })
    };
    let mut taken: Vec<String> = relations.iter().filter_map(|r| named(r)).collect();
    let mut next = 0;
    relations
        .iter()
        .map(|table| {
            let alias = named(table).unwrap_or_else(|| {
                loop {
                    let candidate = format!("ds{next}");
                    next += 1;
                    if !taken.contains(&candidate) {
                        taken.push(candidate.clone());
                        break candidate;
                    }
                }
            });
            Source {
                alias,
                dataset: dataset.to_string(),
                table: table.clone(),
            }
        })
        .collect()
}

/// The Linking API URL that creates the report: `c.reportId` (the template, when the spec
/// names one), `r.reportName`, and per data source the BigQuery connector's TABLE parameters.
/// Setting `connector` replaces a template's data source entirely, so every required parameter
/// is given.
pub fn url(project: &str, report_name: &str, template: Option<&str>, sources: &[Source]) -> String {
    let mut params: Vec<(String, String)> = Vec::new();
    if let Some(id) = template {
        params.push(("c.reportId".into(), id.to_string()));
    }
    params.push(("r.reportName".into(), report_name.to_string()));
    for s in sources {
        let p = |name: &str| format!("ds.{}.{name}", s.alias);
        params.extend([
            (p("connector"), "bigQuery".to_string()),
            (p("type"), "TABLE".to_string()),
            (p("projectId"), project.to_string()),
            (p("datasetId"), s.dataset.clone()),
            (p("tableId"), s.table.clone()),
            (p("billingProjectId"), project.to_string()),
            (p("datasourceName"), format!("{}.{}", s.dataset, s.table)),
        ]);
    }
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, VALUE)))
        .collect();
    format!("{CREATE_URL}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parameter names exactly as the Linking API documents them.
    #[test]
    fn the_url_uses_the_documented_parameters_and_encodes_values() {
        let relations = vec!["top_products".to_string(), "hourly_sales".to_string()];
        let sources = sources(&relations, "retail_dw", None);
        let url = url("my-proj", "Black Friday & co", Some("abc-123"), &sources);
        let (base, query) = url.split_once('?').unwrap();
        assert_eq!(base, "https://lookerstudio.google.com/reporting/create");
        let pairs: Vec<(&str, &str)> = query
            .split('&')
            .map(|kv| kv.split_once('=').unwrap())
            .collect();
        let get = |k: &str| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        assert_eq!(get("c.reportId"), Some("abc-123"));
        assert_eq!(get("r.reportName"), Some("Black%20Friday%20%26%20co"));
        for (alias, table) in [("ds0", "top_products"), ("ds1", "hourly_sales")] {
            let p = |name: &str| get(&format!("ds.{alias}.{name}"));
            assert_eq!(p("connector"), Some("bigQuery"));
            assert_eq!(p("type"), Some("TABLE"));
            assert_eq!(p("projectId"), Some("my-proj"));
            assert_eq!(p("datasetId"), Some("retail_dw"));
            assert_eq!(p("tableId"), Some(table));
            assert_eq!(p("billingProjectId"), Some("my-proj"));
        }
        let documented = [
            "c.reportId",
            "r.reportName",
            "connector",
            "type",
            "projectId",
            "datasetId",
            "tableId",
            "billingProjectId",
            "datasourceName",
        ];
        for (key, _) in &pairs {
            let name = key.rsplit('.').next().unwrap();
            assert!(
                documented.contains(key) || documented.contains(&name),
                "undocumented parameter {key}"
            );
        }
    }

    #[test]
    fn no_template_means_no_report_id() {
        let url = url("p", "r", None, &[]);
        assert!(!url.contains("c.reportId"), "{url}");
    }
}
