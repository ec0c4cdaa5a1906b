//! The programs' files: the layer's helpers (every file written atomically, module records
//! saved and loaded with errors that name the file), and clearing what a killed run left
//! half-written.

use std::fs;
use std::path::Path;

pub use burn_lstm::files::{
    PARTIAL_SUFFIX, load_module, read, read_text, save_module, write_atomic,
};

/// Removes the `*.partial` files a killed run may have left in `dir` (not recursive).
pub fn remove_partial_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().contains(PARTIAL_SUFFIX) {
            let _ = fs::remove_file(entry.path());
        }
    }
}
