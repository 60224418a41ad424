//! SQL from a spec is untrusted (specs arrive in pull requests): a view or a query may only
//! read. Before any rendered SQL reaches an engine, it must be exactly one SELECT (or WITH …
//! SELECT) statement — no second statement after a `;`, no COPY, ATTACH, INSTALL, PRAGMA or
//! DML. The check reads the SQL the way the target's parser does (strings, quoted names and
//! comments of that dialect), so a `;` inside a string is not a statement break and one hidden
//! behind an escape the engine does not honour is.

use super::Dialect;

/// What a statement may start with: a query.
const QUERY_STARTS: &[&str] = &["SELECT", "WITH"];

/// Words that begin a statement; after WITH's common table expressions, the first of these at
/// the top level is the statement proper, and must be SELECT.
const STATEMENT_VERBS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "MERGE",
    "COPY",
    "CREATE",
    "DROP",
    "ALTER",
    "ATTACH",
    "DETACH",
    "INSTALL",
    "LOAD",
    "PRAGMA",
    "SET",
    "CALL",
    "EXPORT",
    "IMPORT",
    "VACUUM",
    "CHECKPOINT",
    "TRUNCATE",
    "GRANT",
    "REVOKE",
    "EXECUTE",
    "DECLARE",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "VALUES",
    "TABLE",
    "FROM",
    "DESCRIBE",
    "SUMMARIZE",
    "SHOW",
    "EXPLAIN",
    "USE",
    "RESET",
    "PREPARE",
];

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Open,
    Close,
    Semicolon,
    Other,
}

/// Ok when `sql` is one query statement; otherwise what it is instead, for the message.
pub fn single_query(sql: &str, dialect: Dialect) -> Result<(), String> {
    let tokens = lex(sql, dialect)?;
    let mut statements: Vec<&[Token]> = tokens
        .split(|t| *t == Token::Semicolon)
        .filter(|s| !s.is_empty())
        .collect();
    match statements.len() {
        0 => return Err("there is no statement".into()),
        1 => {}
        n => {
            return Err(format!(
                "it holds {n} statements; a view or query is exactly one SELECT"
            ));
        }
    }
    let statement = statements.remove(0);
    let first = statement.iter().find_map(|t| match t {
        Token::Word(w) => Some(w.as_str()),
        Token::Open => None,
        _ => Some(""),
    });
    match first {
        Some(w) if QUERY_STARTS.contains(&w) => {}
        Some("") | None => return Err("it does not start with SELECT or WITH".into()),
        Some(w) => return Err(format!("it is {} {w} statement, not a SELECT", article(w))),
    }
    if first == Some("WITH") {
        // The first statement verb at the top level, after the common table expressions.
        let mut depth = 0i32;
        for t in &statement[1..] {
            match t {
                Token::Open => depth += 1,
                Token::Close => depth -= 1,
                Token::Word(w) if depth == 0 && STATEMENT_VERBS.contains(&w.as_str()) => {
                    return if w == "SELECT" {
                        Ok(())
                    } else {
                        Err(format!("it is a WITH … {w} statement, not a SELECT"))
                    };
                }
                _ => {}
            }
        }
        return Err("its WITH is followed by no SELECT".into());
    }
    Ok(())
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    }
}

/// Words (upper-cased), parentheses and semicolons, with strings, quoted names and comments
/// skipped as the dialect defines them.
fn lex(sql: &str, dialect: Dialect) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied();
    while let Some(c) = at(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '-' if at(i + 1) == Some('-') => i = skip_line(&chars, i),
            '#' if dialect == Dialect::BigQuery => i = skip_line(&chars, i),
            '/' if at(i + 1) == Some('*') => i = skip_block_comment(&chars, i, dialect)?,
            '\'' | '"' | '`' => i = skip_quoted(&chars, i, dialect)?,
            '$' if dialect == Dialect::DuckDb => i = skip_dollar(&chars, i)?,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            ';' => {
                tokens.push(Token::Semicolon);
                i += 1;
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while at(i).is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                tokens.push(Token::Word(word.to_ascii_uppercase()));
            }
            _ => {
                tokens.push(Token::Other);
                i += 1;
            }
        }
    }
    Ok(tokens)
}

fn skip_line(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i] != '\n' {
        i += 1;
    }
    i
}

/// DuckDB (PostgreSQL's grammar) nests block comments; BigQuery does not.
fn skip_block_comment(chars: &[char], mut i: usize, dialect: Dialect) -> Result<usize, String> {
    let mut depth = 0;
    while i < chars.len() {
        if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
            if depth == 0 || dialect == Dialect::DuckDb {
                depth += 1;
            }
            i += 2;
        } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Ok(i);
            }
        } else {
            i += 1;
        }
    }
    Err("a /* comment is never closed".into())
}

/// A string or quoted name. BigQuery escapes with a backslash and has triple-quoted strings;
/// DuckDB doubles the quote and takes a backslash literally (outside E'…' strings).
fn skip_quoted(chars: &[char], i: usize, dialect: Dialect) -> Result<usize, String> {
    let quote = chars[i];
    let escape_string = dialect == Dialect::DuckDb
        && quote == '\''
        && i > 0
        && matches!(chars[i - 1], 'e' | 'E')
        && (i < 2 || !(chars[i - 2].is_alphanumeric() || chars[i - 2] == '_'));
    let backslash = dialect == Dialect::BigQuery || escape_string;
    let triple = dialect == Dialect::BigQuery
        && quote != '`'
        && chars.get(i + 1) == Some(&quote)
        && chars.get(i + 2) == Some(&quote);
    let mut j = if triple { i + 3 } else { i + 1 };
    while j < chars.len() {
        let c = chars[j];
        if backslash && c == '\\' {
            j += 2;
            continue;
        }
        if c == quote {
            if triple {
                if chars.get(j + 1) == Some(&quote) && chars.get(j + 2) == Some(&quote) {
                    return Ok(j + 3);
                }
            } else if dialect == Dialect::DuckDb && chars.get(j + 1) == Some(&quote) {
                j += 2; // a doubled quote stands for itself
                continue;
            } else {
                return Ok(j + 1);
            }
        }
        j += 1;
    }
    Err(format!("a {quote} quote is never closed"))
}

/// DuckDB's dollar-quoted strings, `$$…$$` or `$tag$…$tag$`; `$1` is a parameter.
fn skip_dollar(chars: &[char], i: usize) -> Result<usize, String> {
    let mut j = i + 1;
    while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
        j += 1;
    }
    let tag_starts_with_digit = chars.get(i + 1).is_some_and(char::is_ascii_digit);
    if tag_starts_with_digit || chars.get(j) != Some(&'$') {
        return Ok(i + 1);
    }
    let tag: String = chars[i..=j].iter().collect();
    let rest: String = chars[j + 1..].iter().collect();
    match rest.find(&tag) {
        Some(end) => Ok(j + 1 + rest[..end].chars().count() + tag.chars().count()),
        None => Err(format!("a {tag} string is never closed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dialect::{BigQuery, DuckDb};

    fn ok(sql: &str) {
        for d in Dialect::ALL {
            assert_eq!(single_query(sql, d), Ok(()), "{d:?}: {sql}");
        }
    }

    #[test]
    fn queries_pass() {
        ok("SELECT 1");
        ok("  -- a comment\nSELECT a FROM t WHERE b = 'x;y' ORDER BY 1;");
        ok("(SELECT 1) UNION ALL (SELECT 2)");
        ok("WITH a AS (SELECT 1 AS x), b AS (SELECT x FROM a) SELECT * FROM b");
        ok("/* lead */ select \"odd;name\" from t");
        assert_eq!(single_query("SELECT $1, $$a;b$$", DuckDb), Ok(()));
        assert_eq!(single_query("SELECT '''a;b''' # note;\n", BigQuery), Ok(()));
    }

    #[test]
    fn everything_else_is_refused_with_a_reason() {
        let refused = |sql: &str, d: Dialect, why: &str| {
            let e = single_query(sql, d).unwrap_err();
            assert!(e.contains(why), "{d:?}: {sql}: {e}");
        };
        for d in Dialect::ALL {
            refused("SELECT 1; COPY (SELECT 'x') TO 'f'", d, "2 statements");
            refused("COPY (SELECT 1) TO 'f'", d, "COPY statement");
            refused("ATTACH 'x.db'", d, "ATTACH");
            refused("INSTALL httpfs", d, "INSTALL");
            refused(
                "WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a",
                d,
                "WITH … INSERT",
            );
            refused("", d, "no statement");
        }
        // DuckDB takes a backslash literally: the quote ends the string, the `;` is real.
        refused(r"SELECT 'a\'; DROP TABLE t; --'", DuckDb, "2 statements");
        // BigQuery escapes it: one string, one statement.
        assert_eq!(
            single_query(r"SELECT 'a\'; DROP TABLE t; --'", BigQuery),
            Ok(())
        );
        // DuckDB nests block comments; the `;` after the inner close is still commented out.
        assert_eq!(single_query("SELECT 1 /* a /* b */ ; */", DuckDb), Ok(()));
        refused("SELECT 1 /* a /* b */ ; */", BigQuery, "2 statements");
        refused("SELECT 'never closed", DuckDb, "never closed");
    }
}
