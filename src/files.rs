//! Files that survive a crash: every file is written under a temporary name, flushed to disk
//! and renamed into place, so a reader sees the old file or the new one, never half of one;
//! and module records saved and loaded with errors that name the file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;

use crate::error::{LstmError, Result};

/// Suffix of files being written. A run killed mid-write can leave one behind; it is never
/// read, and the next run in that directory removes it.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename, fsync of the directory).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|err| LstmError::io(dir, err))?;
    let mut partial = path.as_os_str().to_owned();
    partial.push(PARTIAL_SUFFIX);
    let partial = PathBuf::from(partial);
    let mut file = fs::File::create(&partial).map_err(|err| LstmError::io(&partial, err))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(|err| LstmError::io(&partial, err))?;
    drop(file);
    fs::rename(&partial, path).map_err(|err| LstmError::io(path, err))?;
    // The rename itself is durable only once the directory entry is on disk.
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Removes the `*.partial` files a killed run may have left in `dir` (not recursive).
#[deprecated(
    since = "0.1.0",
    note = "a program's concern: moved to burn_lstm_programs::files::remove_partial_files"
)]
pub fn remove_partial_files(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().contains(PARTIAL_SUFFIX) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Reads a whole file, with an error that names it.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|err| LstmError::io(path, err))
}

/// Reads a UTF-8 text file, with an error that names it.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = read(path)?;
    String::from_utf8(bytes).map_err(|err| {
        LstmError::format(
            path,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                err.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Saves a module's parameters (a burnpack record) to `path`, atomically.
pub fn save_module<M: Module>(module: &M, path: &Path) -> Result<()> {
    let bytes = module
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|err| LstmError::format(path, err.to_string()))?;
    write_atomic(path, &bytes)
}

/// Loads parameters saved by [`save_module`] into `module` (built from the matching config).
///
/// # Errors
/// A missing or unreadable file, a file that is not a burnpack record, or a record whose
/// parameters do not fit the module (another configuration).
pub fn load_module<M: Module>(module: M, path: &Path) -> Result<M> {
    let bytes = read(path)?;
    let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|err| LstmError::format(path, format!("not a model record: {err}")))?;
    module.try_load_record(record).map_err(|err| {
        LstmError::format(
            path,
            format!("the record does not fit the model of this configuration: {err}"),
        )
    })
}
