//! Configuration errors: each names the file or URL, the field path and what was expected.

use std::fmt;

/// Where a piece of configuration came from: a file path, a URL, or an override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(pub String);

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Origin {
    fn from(value: &str) -> Self {
        Origin(value.to_owned())
    }
}

/// A line and column in a text document, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text`.
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let before = text.get(..offset.min(text.len())).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Position { line, column }
    }
}

/// Why configuration was rejected. Nothing of a rejected configuration is ever served.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not well-formed TOML or JSON.
    #[error("{origin}:{}:{}: syntax error: {message}", position.line, position.column)]
    Syntax {
        /// File or URL.
        origin: Origin,
        /// Where the parser stopped.
        position: Position,
        /// The parser's explanation.
        message: String,
    },
    /// A field has the wrong type, is missing, or is not a known field.
    #[error("{origin}{}: {path}: {message}", position.map(|p| format!(":{}:{}", p.line, p.column)).unwrap_or_default())]
    Field {
        /// File or URL.
        origin: Origin,
        /// Where in the file, when known.
        position: Option<Position>,
        /// Field path, e.g. `members[2].ipv4`.
        path: String,
        /// What was expected.
        message: String,
    },
    /// A well-formed value that breaks a rule: duplicate id, unknown reference, range.
    #[error("{origin}: {path}: {message}")]
    Invalid {
        /// File or URL.
        origin: Origin,
        /// Field path, e.g. `members["Amforc"].services[0]`.
        path: String,
        /// The rule that was broken.
        message: String,
    },
    /// An environment variable or command-line flag could not be applied.
    #[error("{source_name}: {message}")]
    Override {
        /// The variable or flag, e.g. `GEODNS_NODE__ID` or `--node-id`.
        source_name: String,
        /// What was wrong.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(
        origin: &Origin,
        path: impl Into<String>,
        message: impl fmt::Display,
    ) -> Self {
        ConfigError::Invalid {
            origin: origin.clone(),
            path: path.into(),
            message: message.to_string(),
        }
    }
}

/// Several configuration errors found in one pass; validation reports all of them.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_from_one() {
        let text = "a = 1\nbb = x\n";
        assert_eq!(
            Position::of_offset(text, 0),
            Position { line: 1, column: 1 }
        );
        assert_eq!(
            Position::of_offset(text, 11),
            Position { line: 2, column: 6 }
        );
    }
}
