//! Google Cloud label rules, shared by Pub/Sub and Dataflow: at most 64 labels; keys 1–63
//! characters, starting with a lowercase letter; keys and values only lowercase letters,
//! digits, `_` and `-` (values may be empty). International lowercase letters are allowed.

use serde_json::Value;

use crate::reply::Reply;

pub(crate) fn check(labels: Option<&Value>) -> Result<(), Reply> {
    let Some(labels) = labels.and_then(Value::as_object) else {
        return Ok(());
    };
    if labels.len() > 64 {
        return Err(Reply::invalid(format!(
            "Too many labels: {} (at most 64)",
            labels.len()
        )));
    }
    let allowed = |c: char| c.is_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
    for (key, value) in labels {
        let value = value.as_str().unwrap_or("");
        let key_ok = key.chars().next().is_some_and(char::is_lowercase)
            && key.chars().count() <= 63
            && key.chars().all(allowed);
        let value_ok = value.chars().count() <= 63 && value.chars().all(allowed);
        if !key_ok || !value_ok {
            return Err(Reply::invalid(format!(
                "Invalid label {key}={value}: keys must start with a lowercase letter; keys and values may contain only lowercase letters, digits, '_' and '-', at most 63 characters"
            )));
        }
    }
    Ok(())
}
