//! Where each service is reached. Precedence: `targets.gcp.endpoints` in the spec, then the
//! usual emulator variables (`PUBSUB_EMULATOR_HOST`, `BIGQUERY_EMULATOR_HOST`,
//! `STORAGE_EMULATOR_HOST`, and `BQFLOW_<SERVICE>_ENDPOINT` for the others), then Google's
//! endpoints. An overridden endpoint is called without credentials.

use crate::spec::types::Endpoints as SpecEndpoints;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    PubSub,
    BigQuery,
    Storage,
    Dataflow,
    ServiceUsage,
    ResourceManager,
    Monitoring,
}

impl Service {
    pub const ALL: [Service; 7] = [
        Service::PubSub,
        Service::BigQuery,
        Service::Storage,
        Service::Dataflow,
        Service::ServiceUsage,
        Service::ResourceManager,
        Service::Monitoring,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Service::PubSub => "pubsub",
            Service::BigQuery => "bigquery",
            Service::Storage => "storage",
            Service::Dataflow => "dataflow",
            Service::ServiceUsage => "serviceusage",
            Service::ResourceManager => "cloudresourcemanager",
            Service::Monitoring => "monitoring",
        }
    }

    /// The API name Service Usage knows it by.
    pub fn api(self) -> &'static str {
        match self {
            Service::PubSub => "pubsub.googleapis.com",
            Service::BigQuery => "bigquery.googleapis.com",
            Service::Storage => "storage.googleapis.com",
            Service::Dataflow => "dataflow.googleapis.com",
            Service::ServiceUsage => "serviceusage.googleapis.com",
            Service::ResourceManager => "cloudresourcemanager.googleapis.com",
            Service::Monitoring => "monitoring.googleapis.com",
        }
    }

    /// Google's root, and the prefix request paths are relative to.
    fn google(self) -> (&'static str, &'static str) {
        match self {
            Service::PubSub => ("https://pubsub.googleapis.com", "/"),
            Service::BigQuery => ("https://bigquery.googleapis.com", "/bigquery/v2/"),
            Service::Storage => ("https://storage.googleapis.com", "/storage/v1/"),
            Service::Dataflow => ("https://dataflow.googleapis.com", "/"),
            Service::ServiceUsage => ("https://serviceusage.googleapis.com", "/"),
            Service::ResourceManager => ("https://cloudresourcemanager.googleapis.com", "/"),
            Service::Monitoring => ("https://monitoring.googleapis.com", "/"),
        }
    }

    fn env_var(self) -> &'static str {
        match self {
            Service::PubSub => "PUBSUB_EMULATOR_HOST",
            Service::BigQuery => "BIGQUERY_EMULATOR_HOST",
            Service::Storage => "STORAGE_EMULATOR_HOST",
            Service::Dataflow => "BQFLOW_DATAFLOW_ENDPOINT",
            Service::ServiceUsage => "BQFLOW_SERVICEUSAGE_ENDPOINT",
            Service::ResourceManager => "BQFLOW_RESOURCEMANAGER_ENDPOINT",
            Service::Monitoring => "BQFLOW_MONITORING_ENDPOINT",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Base URL request paths are appended to (ends with `/`).
    pub base: String,
    pub overridden: bool,
    /// Where the override came from, for messages.
    pub source: &'static str,
}

#[derive(Clone, Debug)]
pub struct Endpoints {
    list: Vec<(Service, Endpoint)>,
}

impl Endpoints {
    pub fn resolve(spec: &SpecEndpoints) -> Endpoints {
        let from_spec = |s: Service| match s {
            Service::PubSub => spec.pubsub.as_ref(),
            Service::BigQuery => spec.bigquery.as_ref(),
            Service::Storage => spec.storage.as_ref(),
            Service::Dataflow => spec.dataflow.as_ref(),
            Service::ServiceUsage => spec.serviceusage.as_ref(),
            Service::ResourceManager => spec.resourcemanager.as_ref(),
            Service::Monitoring => spec.monitoring.as_ref(),
        };
        let list = Service::ALL
            .iter()
            .map(|&s| {
                let (google, prefix) = s.google();
                let (root, overridden, source) = match (
                    from_spec(s),
                    std::env::var(s.env_var()).ok().filter(|v| !v.is_empty()),
                ) {
                    (Some(url), _) => (url.value.clone(), true, "targets.gcp.endpoints"),
                    (None, Some(host)) => (host, true, s.env_var()),
                    (None, None) => (google.to_string(), false, "default"),
                };
                // Emulator variables are often `host:port` without a scheme.
                let root = if root.contains("://") {
                    root
                } else {
                    format!("http://{root}")
                };
                let base = format!("{}{prefix}", root.trim_end_matches('/'));
                (
                    s,
                    Endpoint {
                        base,
                        overridden,
                        source,
                    },
                )
            })
            .collect();
        Endpoints { list }
    }

    pub fn get(&self, s: Service) -> &Endpoint {
        &self
            .list
            .iter()
            .find(|(k, _)| *k == s)
            .expect("every service resolved")
            .1
    }

    /// True when any service points at an emulator or fake (messages say so).
    pub fn any_overridden(&self) -> bool {
        self.list.iter().any(|(_, e)| e.overridden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_googles_and_paths_carry_the_api_prefix() {
        let e = Endpoints::resolve(&SpecEndpoints::default());
        // Only checks services whose variables the test environment does not set.
        if std::env::var("BQFLOW_DATAFLOW_ENDPOINT").is_err() {
            assert_eq!(
                e.get(Service::Dataflow).base,
                "https://dataflow.googleapis.com/"
            );
            assert!(!e.get(Service::Dataflow).overridden);
        }
    }

    #[test]
    fn spec_endpoints_win_and_get_a_scheme_and_prefix() {
        let spec = SpecEndpoints {
            bigquery: Some(crate::spec::located::Text::unplaced(
                "http://127.0.0.1:9050/",
            )),
            ..SpecEndpoints::default()
        };
        let e = Endpoints::resolve(&spec);
        assert_eq!(
            e.get(Service::BigQuery).base,
            "http://127.0.0.1:9050/bigquery/v2/"
        );
        assert!(e.get(Service::BigQuery).overridden);
    }
}
