//! The programs' error type: the layer's errors, and the programs' own (data files,
//! configurations, training).

use std::path::PathBuf;

use burn_lstm::LstmError;

/// Everything that can stop a program, each with enough context to be shown to a person as
/// it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The layer refused something (a shape, a configuration, a checkpoint).
    #[error(transparent)]
    Layer(#[from] LstmError),
    /// A setting (a flag, a configuration value) is out of its valid range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A data file was read but its contents are not what they should be.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was wrong with it, and where (row, column).
        reason: String,
    },
    /// Training could not go on, or a run cannot be resumed.
    #[error("{0}")]
    Training(String),
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Format`] for `path`.
    pub fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Shorthand for results of the programs.
pub type Result<T, E = Error> = std::result::Result<T, E>;
