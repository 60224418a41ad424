//! `updateMask` handling for PATCH-style updates: copy the masked fields from the request's
//! resource onto the stored one; a masked field absent from the request is cleared.

use serde_json::{Map, Value};

/// Splits a mask into camelCase paths (Google accepts `message_retention_duration` and
/// `messageRetentionDuration` alike).
pub(crate) fn paths(mask: &str) -> Vec<String> {
    mask.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(camel_case)
        .collect()
}

fn camel_case(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut upper = false;
    for c in path.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Applies one camelCase `path` (dotted for nested fields) from `from` onto `to`.
pub(crate) fn apply(to: &mut Map<String, Value>, from: &Map<String, Value>, path: &str) {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    match rest {
        None => match from.get(head).filter(|v| !v.is_null()) {
            Some(v) => {
                to.insert(head.to_string(), v.clone());
            }
            None => {
                to.remove(head);
            }
        },
        Some(rest) => {
            let empty = Map::new();
            let sub_from = from.get(head).and_then(Value::as_object).unwrap_or(&empty);
            let sub_to = to
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !sub_to.is_object() {
                *sub_to = Value::Object(Map::new());
            }
            if let Some(sub_to) = sub_to.as_object_mut() {
                apply(sub_to, sub_from, rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_copy_clear_and_nest() {
        let mut to = json!({"a": 1, "b": 2, "c": {"x": 1, "y": 2}});
        let from = json!({"a": 10, "c": {"x": 5}});
        let to_map = to.as_object_mut().unwrap();
        for p in paths("a, b,c.x,c.y") {
            apply(to_map, from.as_object().unwrap(), &p);
        }
        assert_eq!(to, json!({"a": 10, "c": {"x": 5}}));
        assert_eq!(
            paths("message_retention_duration"),
            vec!["messageRetentionDuration"]
        );
        assert!(paths(" , ").is_empty());
    }
}
