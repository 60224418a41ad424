//! Naming rules of the services, checked before anything is sent. Each returns the reason a name
//! is invalid, phrased as the rule, so the error tells the user what to write instead.

pub type Rule = fn(&str) -> Result<(), String>;

/// Pub/Sub topic and subscription ids.
pub fn pubsub(name: &str) -> Result<(), String> {
    let len = name.chars().count();
    if !(3..=255).contains(&len) {
        return Err("Pub/Sub names are 3–255 characters long".into());
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("Pub/Sub names start with a letter".into());
    }
    if name.to_ascii_lowercase().starts_with("goog") {
        return Err("Pub/Sub names must not start with `goog`".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.~+%".contains(*c)))
    {
        return Err(format!(
            "Pub/Sub names use letters, digits and `-_.~+%` only, not `{c}`"
        ));
    }
    Ok(())
}

/// BigQuery dataset ids.
pub fn dataset(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 1024 {
        return Err("dataset names are 1–1024 characters long".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(format!(
            "dataset names use letters, digits and `_` only, not `{c}`"
        ));
    }
    Ok(())
}

/// Table and view ids. BigQuery allows more (spaces, dashes, Unicode), but such names need
/// quoting everywhere and break tools downstream; bqflow keeps to plain identifiers.
pub fn table(name: &str) -> Result<(), String> {
    identifier(name, 1024, "table and view names")
}

/// Column names.
pub fn column(name: &str) -> Result<(), String> {
    identifier(name, 300, "column names")?;
    let upper = name.to_ascii_uppercase();
    for reserved in [
        "_TABLE_",
        "_FILE_",
        "_PARTITION",
        "_ROW_TIMESTAMP",
        "__ROOT__",
        "_COLIDENTIFIER",
    ] {
        if upper.starts_with(reserved) {
            return Err(format!(
                "column names must not start with `{reserved}` (reserved by BigQuery)"
            ));
        }
    }
    Ok(())
}

fn identifier(name: &str, max: usize, what: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > max {
        return Err(format!("{what} are 1–{max} characters long"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        return Err(format!("{what} start with a letter or `_`"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(format!(
            "{what} use letters, digits and `_` only, not `{c}`"
        ));
    }
    Ok(())
}

/// Label keys (BigQuery, Pub/Sub, Storage and Dataflow share the rule).
pub fn label_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.chars().count() > 63 {
        return Err("label keys are 1–63 characters long".into());
    }
    if !key.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("label keys start with a lowercase letter".into());
    }
    label_chars(key, "label keys")
}

/// Label values (may be empty).
pub fn label_value(value: &str) -> Result<(), String> {
    if value.chars().count() > 63 {
        return Err("label values are at most 63 characters long".into());
    }
    label_chars(value, "label values")
}

fn label_chars(text: &str, what: &str) -> Result<(), String> {
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "{what} use lowercase letters, digits, `_` and `-` only, not `{c}`"
        ));
    }
    Ok(())
}

/// The project name: a label value that also prefixes job and bucket names.
pub fn project_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the project name must not be empty".into());
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("the project name starts with a lowercase letter".into());
    }
    if name.len() > 30 {
        return Err(
            "the project name is at most 30 characters (it prefixes job and bucket names)".into(),
        );
    }
    label_value(name)?;
    if name.contains('_') {
        return Err("the project name uses lowercase letters, digits and `-` (no `_`: it prefixes Dataflow job names)".into());
    }
    Ok(())
}

/// Pipeline names become Dataflow job names: `[a-z]([-a-z0-9]*[a-z0-9])?`.
pub fn pipeline(name: &str) -> Result<(), String> {
    kebab(name, "pipeline names")
}

/// Query names are typed on the command line.
pub fn query(name: &str) -> Result<(), String> {
    kebab(name, "query names")
}

/// Dashboard names are typed on the command line (`bqflow dashboard NAME`).
pub fn dashboard(name: &str) -> Result<(), String> {
    kebab(name, "dashboard names")
}

fn kebab(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 63 {
        return Err(format!("{what} are 1–63 characters long"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!("{what} start with a lowercase letter"));
    }
    if name.ends_with('-') {
        return Err(format!("{what} must not end with `-`"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "{what} use lowercase letters, digits and `-` only, not `{c}`"
        ));
    }
    Ok(())
}

/// Query parameter names: `@name` on BigQuery, `$name` on DuckDB.
pub fn parameter(name: &str) -> Result<(), String> {
    identifier(name, 128, "parameter names")
}

/// GCP project ids: 6–30 characters, lowercase letters, digits and hyphens, starting with a letter.
pub fn gcp_project(id: &str) -> Result<(), String> {
    // Domain-scoped ids (`example.com:proj`) exist but are legacy; accept their shape, and
    // check the domain too: the whole id goes into request paths.
    let id = match id.split_once(':') {
        Some((domain, rest)) => {
            let ok = !domain.is_empty()
                && domain.len() <= 253
                && domain.split('.').all(|l| {
                    !l.is_empty()
                        && l.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                });
            if !ok {
                return Err("in a domain-scoped GCP project id (`example.com:proj`), the domain is lowercase letters, digits, `-` and `.`".into());
            }
            rest
        }
        None => id,
    };
    if !(6..=30).contains(&id.len()) {
        return Err("GCP project ids are 6–30 characters long".into());
    }
    if !id.starts_with(|c: char| c.is_ascii_lowercase()) || id.ends_with('-') {
        return Err("GCP project ids start with a lowercase letter and do not end with `-`".into());
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "GCP project ids use lowercase letters, digits and `-` only, not `{c}`"
        ));
    }
    Ok(())
}

/// Cloud Storage bucket names (the subset without dots, which would need domain verification).
pub fn bucket(name: &str) -> Result<(), String> {
    if !(3..=63).contains(&name.len()) {
        return Err("bucket names are 3–63 characters long".into());
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        || !name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return Err("bucket names start and end with a lowercase letter or digit".into());
    }
    if name.starts_with("goog") || name.contains("google") {
        return Err("bucket names must not start with `goog` or contain `google`".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "bucket names use lowercase letters, digits, `-` and `_` only, not `{c}`"
        ));
    }
    Ok(())
}

/// The closest candidate within a small edit distance, for "did you mean" hints.
pub fn suggest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(wrong, c), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gcp_project_id_is_checked_whole() {
        assert!(gcp_project("retail-prod-42").is_ok());
        assert!(gcp_project("example.com:retail-prod").is_ok());
        for bad in [
            "a/b:retail-prod",
            "x?y:retail-prod",
            ":retail-prod",
            "ex.com:a:retail-prod",
            "retail-prod/../x",
        ] {
            assert!(gcp_project(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pubsub_names() {
        assert!(pubsub("sales-events").is_ok());
        assert!(pubsub("ab").is_err());
        assert!(pubsub("1abc").is_err());
        assert!(pubsub("google-x").is_err());
        assert!(pubsub("a b c").unwrap_err().contains("` `"));
    }

    #[test]
    fn bigquery_names() {
        assert!(dataset("retail_dw").is_ok());
        assert!(dataset("retail-dw").unwrap_err().contains("`-`"));
        assert!(table("sales_fact").is_ok());
        assert!(table("9sales").is_err());
        assert!(column("_PARTITIONTIME").is_err());
    }

    #[test]
    fn labels_and_kebab_names() {
        assert!(label_key("team").is_ok());
        assert!(label_key("Team").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("Retail").is_err());
        assert!(query("top-products").is_ok());
        assert!(query("top_products").is_err());
        assert!(pipeline("sales-").is_err());
    }

    #[test]
    fn suggestions_pick_the_closest_name() {
        let names = ["sales_fact", "inventory_fact", "stores_dim"];
        assert_eq!(suggest("sales_facts", names), Some("sales_fact"));
        assert_eq!(suggest("zzz", names), None);
    }
}
