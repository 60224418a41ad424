//! `${NAME}` interpolation for spec strings, with the shell's `${NAME:-default}` form and `$$` for
//! a literal dollar sign.

/// Replaces every `${NAME}` / `${NAME:-default}` in `text` with the environment's value.
/// Returns a message naming the variable when one is unset and has no default.
pub fn interpolate(text: &str) -> Result<String, String> {
    interpolate_with(text, |name| std::env::var(name).ok())
}

pub fn interpolate_with(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                return Err(format!(
                    "unterminated `${{` in `{text}`: write `${{NAME}}`, or `$$` for a literal `$`"
                ));
            };
            let inner = &after[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (inner, None),
            };
            if !is_env_name(name) {
                return Err(format!(
                    "`${{{inner}}}` is not a valid variable reference: names are letters, digits and `_`"
                ));
            }
            match (lookup(name), default) {
                (Some(value), Some(default)) if value.is_empty() => out.push_str(default),
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => {
                    return Err(format!(
                        "environment variable `{name}` is not set: export it, or write `${{{name}:-default}}`"
                    ));
                }
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PROJECT" => Some("acme-prod".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn replaces_set_variables_and_keeps_other_text() {
        assert_eq!(
            interpolate_with("${PROJECT}-tmp", env).unwrap(),
            "acme-prod-tmp"
        );
        assert_eq!(interpolate_with("no vars", env).unwrap(), "no vars");
        assert_eq!(interpolate_with("cost $$5 $x", env).unwrap(), "cost $5 $x");
    }

    #[test]
    fn default_applies_when_unset_or_empty() {
        assert_eq!(interpolate_with("${NOPE:-us}", env).unwrap(), "us");
        assert_eq!(interpolate_with("${EMPTY:-x}", env).unwrap(), "x");
        assert_eq!(interpolate_with("${EMPTY}", env).unwrap(), "");
    }

    #[test]
    fn unset_variable_is_an_error_naming_it() {
        let err = interpolate_with("${NOPE}", env).unwrap_err();
        assert!(err.contains("`NOPE` is not set"), "{err}");
        assert!(
            interpolate_with("${A", env)
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(
            interpolate_with("${1A}", env)
                .unwrap_err()
                .contains("not a valid")
        );
    }
}
