//! Where the tests find their reference data: inside the crate, in `tests/data/`, unless an
//! environment variable names another directory.

use std::path::PathBuf;

/// `variable`'s directory when it is set, else `tests/data/<name>` of this crate.
///
/// The crate's directory is read when the test runs (cargo sets `CARGO_MANIFEST_DIR` for the
/// test process), not only when it was compiled: a test binary reused from another checkout's
/// build directory still reads this checkout's data. A directory that does not exist is left
/// for the caller to report, so that missing data fails a test instead of skipping it.
pub fn data_dir(variable: &str, name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(variable) {
        return PathBuf::from(dir);
    }
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    crate_dir.join("tests").join("data").join(name)
}
