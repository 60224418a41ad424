//! URI templates as discovery documents write them: `v1/{+topic}:publish`,
//! `projects/{projectsId}/datasets/{datasetsId}`.
//!
//! Only the two forms discovery uses exist here: `{var}` (one path segment, no `/`) and
//! `{+var}` (reserved expansion: may span segments). A variable can share a segment with a
//! literal (`{topicsId}:publish`), so matching backtracks instead of splitting on `/`.

#[derive(Clone, Debug)]
enum Token {
    Literal(String),
    Var { name: String, reserved: bool },
}

#[derive(Clone, Debug)]
pub(crate) struct Template {
    tokens: Vec<Token>,
    /// Google's verb rule (`.../t:publish`): in APIs that use verbs, a `:` in the last path
    /// segment starts the verb, so a variable there cannot contain one. Without this,
    /// `PUT topics/t:publish` would be a topic create for a topic named `t:publish`.
    verbs: bool,
}

impl Template {
    /// `verbs`: whether the API uses `:verb` suffixes (storage does not, and allows `:` in
    /// object names).
    pub(crate) fn parse(text: &str, verbs: bool) -> Template {
        let mut tokens = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            match rest.find('{') {
                Some(0) => {
                    let end = rest.find('}').unwrap_or(rest.len());
                    let inner = &rest[1..end];
                    let (name, reserved) = match inner.strip_prefix('+') {
                        Some(n) => (n, true),
                        None => (inner, false),
                    };
                    tokens.push(Token::Var {
                        name: name.to_string(),
                        reserved,
                    });
                    rest = rest.get(end + 1..).unwrap_or("");
                }
                Some(i) => {
                    tokens.push(Token::Literal(rest[..i].to_string()));
                    rest = &rest[i..];
                }
                None => {
                    tokens.push(Token::Literal(rest.to_string()));
                    rest = "";
                }
            }
        }
        Template { tokens, verbs }
    }

    /// Raw (still percent-encoded) variable values when `path` matches the whole template.
    pub(crate) fn captures(&self, path: &str) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        match_from(&self.tokens, path, self.verbs, &mut out).then_some(out)
    }

    /// How specific the template is: when two templates match one path (`jobs/{id}` and
    /// `jobs:aggregated` never both do, but generic `{+name}` forms can), the one with more
    /// literal text wins.
    pub(crate) fn literal_len(&self) -> usize {
        self.tokens
            .iter()
            .map(|t| match t {
                Token::Literal(l) => l.len(),
                Token::Var { .. } => 0,
            })
            .sum()
    }
}

fn match_from(tokens: &[Token], s: &str, verbs: bool, out: &mut Vec<(String, String)>) -> bool {
    match tokens.split_first() {
        None => s.is_empty(),
        Some((Token::Literal(lit), rest)) => s
            .strip_prefix(lit.as_str())
            .is_some_and(|tail| match_from(rest, tail, verbs, out)),
        Some((Token::Var { name, reserved }, rest)) => {
            let limit = if *reserved {
                s.len()
            } else {
                s.find('/').unwrap_or(s.len())
            };
            // Longest first, so a trailing variable takes the rest of its segment at once.
            for end in (1..=limit).rev() {
                if !s.is_char_boundary(end) {
                    continue;
                }
                let (value, tail) = s.split_at(end);
                let in_last_segment = !tail.contains('/');
                let last_part = value.rsplit('/').next().unwrap_or(value);
                if verbs && in_last_segment && last_part.contains(':') {
                    continue;
                }
                out.push((name.clone(), value.to_string()));
                if match_from(rest, tail, verbs, out) {
                    return true;
                }
                out.pop();
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Template;

    fn caps(t: &str, p: &str) -> Option<Vec<(String, String)>> {
        Template::parse(t, true).captures(p)
    }

    #[test]
    fn simple_variables_stop_at_slashes() {
        assert_eq!(
            caps("v1/projects/{p}/topics/{t}", "v1/projects/a/topics/b"),
            Some(vec![("p".into(), "a".into()), ("t".into(), "b".into())])
        );
        assert_eq!(caps("v1/projects/{p}", "v1/projects/a/b"), None);
        assert_eq!(caps("v1/projects/{p}", "v1/projects/"), None);
    }

    #[test]
    fn reserved_variables_span_segments_and_verbs_split_segments() {
        assert_eq!(
            caps("v1/{+topic}:publish", "v1/projects/a/topics/b:publish"),
            Some(vec![("topic".into(), "projects/a/topics/b".into())])
        );
        assert_eq!(
            caps(
                "v1/projects/{p}/topics/{t}:publish",
                "v1/projects/a/topics/b:publish"
            ),
            Some(vec![("p".into(), "a".into()), ("t".into(), "b".into())])
        );
        assert_eq!(
            caps(
                "v1/projects/{p}/topics/{t}:publish",
                "v1/projects/a/topics/b"
            ),
            None
        );
        // A verb is not part of a resource id...
        assert_eq!(
            caps(
                "v1/projects/{p}/topics/{t}",
                "v1/projects/a/topics/b:publish"
            ),
            None
        );
        assert_eq!(caps("v1/{+name}", "v1/projects/a/topics/b:publish"), None);
        // ...but a colon in an earlier segment is (domain-scoped BigQuery projects).
        assert!(caps("projects/{p}/datasets", "projects/example.com:x/datasets").is_some());
        // Without verbs (Cloud Storage), colons are ordinary characters.
        assert!(
            Template::parse("b/{b}/o/{o}", false)
                .captures("b/x/o/a:b")
                .is_some()
        );
    }
}
