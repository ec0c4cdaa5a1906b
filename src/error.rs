//! The crate's error type: every fallible entry point says what was wrong and where.

use std::path::PathBuf;

/// Everything that can go wrong when a user hands this crate a tensor, a file or a setting.
///
/// Each variant carries enough context (the file, the parameter name, the expected and the
/// actual sizes) for its `Display` text to be shown to a person as it is.
#[derive(Debug, thiserror::Error)]
pub enum LstmError {
    /// A tensor argument had the wrong shape.
    #[error("{what}: expected shape {expected}, got {actual:?}")]
    Shape {
        /// Which argument, e.g. "input" or "initial hidden state".
        what: String,
        /// The expected shape, written for a person (e.g. `[batch, seq, 3]`).
        expected: String,
        /// The shape that was passed.
        actual: Vec<usize>,
    },
    /// The per-row lengths of a padded batch were unusable.
    #[error("lengths: {0}")]
    Lengths(String),
    /// A configuration value is out of its valid range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A named parameter (PyTorch or Keras naming) was missing.
    #[error("missing parameter `{0}`")]
    MissingParameter(String),
    /// A parameter was given that the model has no place for.
    #[error("unexpected parameter `{name}` (the model has: {known})")]
    UnexpectedParameter {
        /// The unexpected name.
        name: String,
        /// The names the model does have, comma separated.
        known: String,
    },
    /// A named parameter had the wrong shape.
    #[error("parameter `{name}`: expected shape {expected:?}, got {actual:?}")]
    ParameterShape {
        /// Parameter name.
        name: String,
        /// The shape the model needs.
        expected: Vec<usize>,
        /// The shape that was found.
        actual: Vec<usize>,
    },
    /// A named parameter did not have the layout its format prescribes (a matrix whose
    /// sizes are a multiple of the gates, say), so no single expected shape can be named.
    #[error("parameter `{name}`: expected {expected}, got shape {actual:?}")]
    ParameterLayout {
        /// Parameter name.
        name: String,
        /// The layout the format needs, written for a person (e.g. `a [4·hidden, input] matrix`).
        expected: String,
        /// The shape that was found.
        actual: Vec<usize>,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A file was read but its contents are not what they should be.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// `BURN_LSTM_KERNEL` names a kernel that does not exist or that this CPU does not run, or
    /// `BURN_LSTM_INPUT_PROJECTION` a way that does not exist.
    #[error("{0}")]
    Kernel(String),
    /// Training could not go on. (The layer never returns it: training is the programs'
    /// concern, and `burn_lstm_programs::Error::Training` says it there.)
    #[deprecated(
        since = "0.1.0",
        note = "the layer never returns it; training errors are burn_lstm_programs::Error::Training"
    )]
    #[error("{0}")]
    Training(String),
}

impl LstmError {
    /// A [`LstmError::Shape`].
    pub fn shape(what: impl Into<String>, expected: impl Into<String>, actual: &[usize]) -> Self {
        LstmError::Shape {
            what: what.into(),
            expected: expected.into(),
            actual: actual.to_vec(),
        }
    }

    /// A [`LstmError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LstmError::Io {
            path: path.into(),
            source,
        }
    }

    /// A [`LstmError::Format`] for `path`.
    pub fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        LstmError::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = LstmError> = std::result::Result<T, E>;
