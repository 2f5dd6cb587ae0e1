//! The SQL differences between the three backends: placeholders, upserts, casts.

use std::borrow::Cow;

/// Which database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (embedded).
    Sqlite,
    /// MariaDB or MySQL.
    MySql,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// The backend for a URL, by scheme.
    pub fn of_url(url: &str) -> Option<Backend> {
        let scheme = url.split(':').next()?;
        match scheme {
            "sqlite" => Some(Backend::Sqlite),
            "mysql" | "mariadb" => Some(Backend::MySql),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            _ => None,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::MySql => "mysql",
            Backend::Postgres => "postgres",
        }
    }

    /// Rewrites `?` placeholders as `$1, $2, …` for PostgreSQL (our SQL text contains no
    /// literal question marks). SQLite and MySQL take `?` as is.
    pub(crate) fn sql<'a>(self, text: &'a str) -> Cow<'a, str> {
        if self != Backend::Postgres || !text.contains('?') {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len() + 16);
        let mut index = 0;
        for ch in text.chars() {
            if ch == '?' {
                index += 1;
                out.push('$');
                out.push_str(&index.to_string());
            } else {
                out.push(ch);
            }
        }
        Cow::Owned(out)
    }

    /// `CAST(expr AS <64-bit integer>)`: sums come back as DECIMAL/NUMERIC otherwise,
    /// which the portable driver layer cannot decode.
    pub(crate) fn int(self, expr: &str) -> String {
        match self {
            Backend::MySql => format!("CAST({expr} AS SIGNED)"),
            Backend::Sqlite | Backend::Postgres => format!("CAST({expr} AS BIGINT)"),
        }
    }

    /// `INSERT … ON CONFLICT` tail that sets `columns` from the new row.
    pub(crate) fn upsert_set(self, conflict: &str, columns: &[&str]) -> String {
        match self {
            Backend::MySql => {
                let sets: Vec<String> = columns
                    .iter()
                    .map(|c| format!("{c} = VALUES({c})"))
                    .collect();
                format!(" ON DUPLICATE KEY UPDATE {}", sets.join(", "))
            }
            Backend::Sqlite | Backend::Postgres => {
                let sets: Vec<String> = columns
                    .iter()
                    .map(|c| format!("{c} = excluded.{c}"))
                    .collect();
                format!(
                    " ON CONFLICT ({conflict}) DO UPDATE SET {}",
                    sets.join(", ")
                )
            }
        }
    }

    /// `INSERT … ` tail that adds the new row's `column` to the existing one.
    pub(crate) fn upsert_add(self, table: &str, conflict: &str, column: &str) -> String {
        match self {
            Backend::MySql => {
                format!(" ON DUPLICATE KEY UPDATE {column} = {column} + VALUES({column})")
            }
            Backend::Sqlite | Backend::Postgres => format!(
                " ON CONFLICT ({conflict}) DO UPDATE SET {column} = {table}.{column} + excluded.{column}"
            ),
        }
    }

    /// `INSERT … ` tail that keeps the larger of the existing and the new `column`.
    pub(crate) fn upsert_max(self, table: &str, conflict: &str, column: &str) -> String {
        match self {
            Backend::MySql => {
                format!(" ON DUPLICATE KEY UPDATE {column} = GREATEST({column}, VALUES({column}))")
            }
            Backend::Postgres => format!(
                " ON CONFLICT ({conflict}) DO UPDATE SET {column} = GREATEST({table}.{column}, excluded.{column})"
            ),
            // SQLite's two-argument MAX is the scalar maximum.
            Backend::Sqlite => format!(
                " ON CONFLICT ({conflict}) DO UPDATE SET {column} = MAX({table}.{column}, excluded.{column})"
            ),
        }
    }

    /// A condition that `column` starts with the bound text (case-sensitive everywhere).
    pub(crate) fn starts_with(self, column: &str) -> String {
        match self {
            Backend::Postgres => format!("STRPOS({column}, ?) = 1"),
            Backend::Sqlite | Backend::MySql => format!("INSTR({column}, ?) = 1"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_gets_numbered_placeholders() {
        assert_eq!(
            Backend::Postgres.sql("a = ? AND b IN (?, ?)"),
            "a = $1 AND b IN ($2, $3)"
        );
        assert_eq!(Backend::MySql.sql("a = ?"), "a = ?");
    }

    #[test]
    fn backends_by_scheme() {
        assert_eq!(Backend::of_url("sqlite://x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("mariadb://h/db"), Some(Backend::MySql));
        assert_eq!(
            Backend::of_url("postgresql://h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::of_url("oracle://h/db"), None);
    }
}
