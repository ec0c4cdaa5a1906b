//! Training: one loop for every model of the crate, with checkpoints that survive a crash,
//! metrics, progress display, optimizers, schedules and global gradient clipping.

pub mod artifacts;
mod checkpoint;
mod metrics;
mod optimizer;
mod progress;
mod trainer;

pub use checkpoint::{Checkpoints, TrainingState};
pub use metrics::{EpochRecord, read_metrics_csv, write_metrics_csv};
pub use optimizer::{GlobalNorm, LrSchedule, OptimizerConfig, clip_global_norm, global_norm};
pub use progress::ProgressMode;
pub use trainer::{
    BatchLoss, Evaluation, TrainOutcome, TrainTask, Trainer, TrainingConfig, mix_seed,
};
