//! The artifacts directory of a training program: its configuration files, and an earlier
//! run moved aside rather than overwritten.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::files::{read_text, write_atomic};

/// Saves a burn `Config` as JSON, atomically.
pub fn save_config<C: burn::config::Config>(config: &C, path: &Path) -> Result<()> {
    let json =
        serde_json::to_string_pretty(config).map_err(|err| Error::format(path, err.to_string()))?;
    Ok(write_atomic(path, json.as_bytes())?)
}

/// Loads a burn `Config` from JSON, naming the file and the problem on error.
pub fn load_config<C: burn::config::Config>(path: &Path) -> Result<C> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|err| Error::format(path, err.to_string()))
}

/// Moves an earlier run in `dir` aside, so a fresh run never overwrites a trained model: to
/// `<dir>.previous`, or where that holds an even earlier run, `<dir>.previous.2`, `.3`, …
/// (nothing is ever deleted). Returns where it went, if there was one.
pub fn set_aside_previous_run(dir: &Path) -> Result<Option<PathBuf>> {
    if !dir.join("model.bpk").exists() && !dir.join("checkpoint").exists() {
        return Ok(None);
    }
    let named = |suffix: String| {
        let mut name = dir.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let previous = std::iter::once(named(".previous".into()))
        .chain((2..).map(|n| named(format!(".previous.{n}"))))
        .find(|candidate| !candidate.exists())
        .expect("an unused name");
    std::fs::rename(dir, &previous).map_err(|err| Error::io(dir, err))?;
    Ok(Some(previous))
}
