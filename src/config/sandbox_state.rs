//! Where sandbox mode keeps the simulators' books (`KESSAI_SANDBOX_STATE`):
//! by default in a file beside the SQLite database, so that kessai's orders
//! and the simulators' payments live and die together.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::env_vars::Env;

/// Where the simulators' books live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxState {
    /// In this file, across restarts.
    File(PathBuf),
    /// In memory only: gone when the process ends.
    Memory(InMemoryBecause),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InMemoryBecause {
    /// `KESSAI_SANDBOX_STATE=memory`, or `kessai sandbox` without `--state`.
    Asked,
    /// A PostgreSQL database outlives any one machine's files and may be
    /// shared by replicas: a file here would soon disagree with it.
    Postgres,
    /// The database itself lives in memory.
    InMemoryDatabase,
}

/// `KESSAI_SANDBOX_STATE`'s value that keeps the books in memory.
pub const IN_MEMORY: &str = "memory";

impl SandboxState {
    /// A value of `KESSAI_SANDBOX_STATE` or `--state`: a path, or `memory`.
    pub fn parse(value: &str) -> Self {
        let value = value.trim();
        if value.eq_ignore_ascii_case(IN_MEMORY) {
            Self::Memory(InMemoryBecause::Asked)
        } else {
            Self::File(PathBuf::from(value))
        }
    }

    /// Beside the SQLite database file `url` names (`kessai.sqlite` →
    /// `kessai.sandbox.json`); in memory for any other database.
    pub fn beside_database(url: &str) -> Self {
        match sqlite_database(url) {
            Some(SqliteDatabase::File(database)) => {
                let stem = database.file_stem().unwrap_or(database.as_os_str());
                let mut name = stem.to_os_string();
                name.push(".sandbox.json");
                Self::File(database.with_file_name(name))
            }
            Some(SqliteDatabase::InMemory) => Self::Memory(InMemoryBecause::InMemoryDatabase),
            None => Self::Memory(InMemoryBecause::Postgres),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::File(path) => Some(path),
            Self::Memory(_) => None,
        }
    }
}

/// One line for the start-up log.
impl fmt::Display for SandboxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self {
            Self::File(path) => return write!(f, "sandbox state kept in {}", path.display()),
            Self::Memory(InMemoryBecause::Asked) => {
                "KESSAI_SANDBOX_STATE or --state is memory, or unset for `kessai sandbox`"
            }
            Self::Memory(InMemoryBecause::Postgres) => {
                "the database is PostgreSQL, whose orders no file on this machine can follow"
            }
            Self::Memory(InMemoryBecause::InMemoryDatabase) => "the database is in memory too",
        };
        write!(
            f,
            "sandbox state kept in memory only ({why}): a restart forgets the simulators' \
             payments; set KESSAI_SANDBOX_STATE to a file to keep them"
        )
    }
}

pub(super) fn from_env(env: &Env<'_>, database_url: &str) -> SandboxState {
    match env.get("KESSAI_SANDBOX_STATE") {
        Some(value) => SandboxState::parse(&value),
        None => SandboxState::beside_database(database_url),
    }
}

/// Where a SQLite database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqliteDatabase {
    File(PathBuf),
    InMemory,
}

/// The SQLite database a URL names; `None` when it is not SQLite.
pub fn sqlite_database(url: &str) -> Option<SqliteDatabase> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory =
        path.is_empty() || path == ":memory:" || query.split('&').any(|pair| pair == "mode=memory");
    Some(if in_memory {
        SqliteDatabase::InMemory
    } else {
        SqliteDatabase::File(PathBuf::from(path))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_file_sits_beside_a_sqlite_database_and_nowhere_else() {
        let beside = |url| SandboxState::beside_database(url);
        assert_eq!(
            beside("sqlite://kessai.sqlite"),
            SandboxState::File("kessai.sandbox.json".into())
        );
        assert_eq!(
            beside("sqlite:///var/lib/kessai/data.db?mode=rwc"),
            SandboxState::File("/var/lib/kessai/data.sandbox.json".into())
        );
        assert_eq!(
            beside("sqlite:orders"),
            SandboxState::File("orders.sandbox.json".into())
        );
        for url in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://?mode=memory",
        ] {
            assert_eq!(
                beside(url),
                SandboxState::Memory(InMemoryBecause::InMemoryDatabase),
                "{url}"
            );
        }
        assert_eq!(
            beside("postgres://kessai@db/kessai"),
            SandboxState::Memory(InMemoryBecause::Postgres)
        );
    }

    #[test]
    fn the_variable_overrides_with_a_path_or_memory() {
        let config = |vars: &[(&str, &str)]| super::super::tests::config_exactly(vars).unwrap();
        assert_eq!(
            config(&[]).sandbox_state,
            SandboxState::File("kessai.sandbox.json".into())
        );
        let memory = config(&[("KESSAI_SANDBOX_STATE", "Memory")]);
        assert_eq!(
            memory.sandbox_state,
            SandboxState::Memory(InMemoryBecause::Asked)
        );
        let file = config(&[
            ("KESSAI_DATABASE_URL", "postgres://kessai@db/kessai"),
            ("KESSAI_SANDBOX_STATE", "/tmp/sandbox.json"),
        ]);
        assert_eq!(
            file.sandbox_state,
            SandboxState::File("/tmp/sandbox.json".into())
        );
        let postgres = config(&[("KESSAI_DATABASE_URL", "postgres://kessai@db/kessai")]);
        assert!(
            postgres
                .sandbox_state
                .to_string()
                .contains("KESSAI_SANDBOX_STATE")
        );
    }
}
