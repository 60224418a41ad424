//! Values that remember where they were written in `project.yaml`, so that a semantic error
//! ("view `x` refers to table `y`, which does not exist") can point at the exact line and column,
//! the same way a YAML syntax error does.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

use super::env;

/// A 1-based line and column in the spec file. `0:0` means "not from the file" (a default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub fn known(&self) -> bool {
        self.line > 0
    }
}

impl From<serde_saphyr::Location> for Pos {
    fn from(loc: serde_saphyr::Location) -> Self {
        Pos {
            line: loc.line() as u32,
            column: loc.column() as u32,
        }
    }
}

/// Any value with its position.
#[derive(Clone, Debug)]
pub struct Located<T> {
    pub value: T,
    pub at: Pos,
}

impl<T> Located<T> {
    pub fn new(value: T, at: Pos) -> Self {
        Located { value, at }
    }
    /// A value that did not come from the file (a default).
    pub fn unplaced(value: T) -> Self {
        Located {
            value,
            at: Pos::default(),
        }
    }
}

impl<T> std::ops::Deref for Located<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<T>::deserialize(d)?;
        Ok(Located {
            value: spanned.value,
            at: spanned.referenced.into(),
        })
    }
}

impl<T: JsonSchema> JsonSchema for Located<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// A string from the spec, with `${ENV}` references already resolved.
///
/// Interpolation happens here, while parsing, so that it covers every string in the spec (quoted
/// or not) and an unset variable is reported at the exact place it is used.
#[derive(Clone)]
pub struct Text {
    pub value: String,
    pub at: Pos,
}

impl Text {
    pub fn unplaced(value: impl Into<String>) -> Self {
        Text {
            value: value.into(),
            at: Pos::default(),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.value, f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

// Equality and order by value only: two names are the same name wherever they are written.
impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl Eq for Text {}
impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Text {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}
impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state)
    }
}
impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.value
    }
}
impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.value
    }
}

thread_local! {
    /// Unset-variable errors found while parsing. Collected on the side rather than failing the
    /// parse, so that every unset variable is reported at once, each at its own position.
    static ENV_ERRORS: RefCell<Vec<(Pos, String)>> = const { RefCell::new(Vec::new()) };
}

/// Takes the interpolation errors recorded by the last parse on this thread.
pub fn take_env_errors() -> Vec<(Pos, String)> {
    ENV_ERRORS.with(|errors| std::mem::take(&mut *errors.borrow_mut()))
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<String>::deserialize(d)?;
        let at: Pos = spanned.referenced.into();
        let value = match env::interpolate(&spanned.value) {
            Ok(value) => value,
            Err(message) => {
                ENV_ERRORS.with(|errors| errors.borrow_mut().push((at, message)));
                spanned.value
            }
        };
        Ok(Text { value, at })
    }
}

impl JsonSchema for Text {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "String".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        String::json_schema(generator)
    }
}
