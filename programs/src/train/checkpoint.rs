//! Training checkpoints: model, optimizer state, epoch and metrics history, written so that
//! the last complete checkpoint survives any crash.
//!
//! Layout under the checkpoint directory:
//!
//! ```text
//! epoch-000012/model.bpk       the model record
//! epoch-000012/optimizer.bpk   the optimizer state (Adam's moments, step counts)
//! epoch-000012/training.json   epoch, seed, learning-rate position, history
//! latest                       the name of the newest complete checkpoint directory
//! ```
//!
//! A new checkpoint is written in full into its own directory before `latest` is switched to
//! it (atomically); only then are older ones removed.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::{load_module, read_text, remove_partial_files, save_module, write_atomic};
use crate::train::metrics::EpochRecord;

/// Where training stands: enough to continue exactly where it stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    /// Epochs completed.
    pub epochs_done: usize,
    /// The run's seed; each epoch's shuffling and dropout derive from it and the epoch number.
    pub seed: u64,
    /// Learning rate the next epoch will use (the schedule's position).
    pub next_learning_rate: f64,
    /// Every epoch so far.
    pub history: Vec<EpochRecord>,
    /// Whether the run reached its end (all epochs, or its stopping criterion).
    pub finished: bool,
    /// With early stopping: the epoch (from 1) of the lowest validation loss so far, whose
    /// model is kept as `best.bpk` beside `model.bpk`.
    #[serde(default)]
    pub best_epoch: Option<usize>,
}

/// The checkpoints of one run.
pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    /// Checkpoints kept in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The newest complete checkpoint's directory, if any.
    pub fn latest(&self) -> Result<Option<PathBuf>> {
        let pointer = self.dir.join("latest");
        if !pointer.exists() {
            return Ok(None);
        }
        let name = read_text(&pointer)?;
        let path = self.dir.join(name.trim());
        if !path.is_dir() {
            return Err(Error::format(
                &pointer,
                format!("names checkpoint `{}`, which does not exist", name.trim()),
            ));
        }
        Ok(Some(path))
    }

    /// Reads the training state of the newest checkpoint, if any.
    pub fn latest_state(&self) -> Result<Option<TrainingState>> {
        match self.latest()? {
            Some(path) => Ok(Some(read_state(&path.join("training.json"))?)),
            None => Ok(None),
        }
    }

    /// Writes a checkpoint, switches `latest` to it and removes the older ones.
    pub fn save<M: Module>(
        &self,
        model: &M,
        optimizer: &ModuleOptimizer,
        state: &TrainingState,
    ) -> Result<()> {
        let name = format!("epoch-{:06}", state.epochs_done);
        let path = self.dir.join(&name);
        if path.exists() {
            fs::remove_dir_all(&path).map_err(|err| Error::io(&path, err))?;
        }
        fs::create_dir_all(&path).map_err(|err| Error::io(&path, err))?;
        save_module(model, &path.join("model.bpk"))?;
        let optimizer_bytes = optimizer
            .into_bytes()
            .map_err(|err| Error::format(path.join("optimizer.bpk"), err.to_string()))?;
        write_atomic(&path.join("optimizer.bpk"), &optimizer_bytes)?;
        let json = serde_json::to_string_pretty(state)
            .map_err(|err| Error::format(path.join("training.json"), err.to_string()))?;
        write_atomic(&path.join("training.json"), json.as_bytes())?;
        write_atomic(&self.dir.join("latest"), name.as_bytes())?;
        self.remove_all_but(&name);
        Ok(())
    }

    /// Loads the newest checkpoint into `model` and `optimizer`.
    ///
    /// Returns `None` when there is no checkpoint.
    pub fn load<M: Module>(
        &self,
        model: M,
        optimizer: ModuleOptimizer,
    ) -> Result<Option<(M, ModuleOptimizer, TrainingState)>> {
        let Some(path) = self.latest()? else {
            return Ok(None);
        };
        let state = read_state(&path.join("training.json"))?;
        let model = load_module(model, &path.join("model.bpk"))?;
        let optimizer_path = path.join("optimizer.bpk");
        let bytes = crate::files::read(&optimizer_path)?;
        let optimizer = optimizer
            .from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
            .map_err(|err| {
                Error::format(&optimizer_path, format!("not an optimizer state: {err}"))
            })?;
        Ok(Some((model, optimizer, state)))
    }

    /// Removes leftovers of an interrupted write: partial files and unfinished directories.
    pub fn clean(&self) {
        remove_partial_files(&self.dir);
        if let Ok(Some(latest)) = self.latest()
            && let Some(name) = latest.file_name()
        {
            remove_partial_files(&latest);
            self.remove_all_but(&name.to_string_lossy());
        }
    }

    fn remove_all_but(&self, keep: &str) {
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("epoch-") && name != keep {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
    }
}

fn read_state(path: &Path) -> Result<TrainingState> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|err| Error::format(path, err.to_string()))
}
