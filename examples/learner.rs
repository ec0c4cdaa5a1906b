//! The sine model trained with burn's own training stack, burn-train: `SupervisedTraining`
//! with burn's data loaders, metrics and checkpoints, the crate's `SequenceRegressor` as the
//! `TrainStep`.
//!
//! ```text
//! cargo run --release --example learner                      # 20 epochs of the Keras recipe
//! cargo run --release --example learner -- --epochs 5
//! cargo run --release --example learner --features cuda -- --backend cuda --strategy ddp
//! ```
//!
//! `--strategy ddp` hands the model to burn-train's distributed data parallel strategy over
//! every CUDA device (burn 0.22's all-reduce runs on CUDA only; it needs `--features cuda`).
//! On a terminal burn-train shows its dashboard; elsewhere one line per epoch.
//!
//! Artifacts go to `artifacts/learner/sine/` (or `--artifacts DIR`): burn-train's
//! `checkpoint/` and `experiment.log`, and this program's `config.json` and `model.bpk`.

mod common;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use burn::data::dataloader::DataLoaderBuilder;
use burn::prelude::*;
use burn::train::metric::LossMetric;
use burn::train::{ExecutionStrategy, Learner, SupervisedTraining};
use burn_lstm::LstmConfig;
use burn_lstm::files::save_module;
use burn_lstm_programs::backend::init_seeded;
use burn_lstm_programs::learner::{EpochLines, WindowBatcher, WindowDataset};
use burn_lstm_programs::sine::SequenceRegressorConfig;
use burn_lstm_programs::sine::keras_sine_windows;
use burn_lstm_programs::train::OptimizerConfig;
use burn_lstm_programs::train::artifacts::save_config;
use burn_lstm_programs::{Error, Result};
use clap::{Parser, ValueEnum};

/// How burn-train spreads the training over devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Strategy {
    /// One device: the backend's default.
    Single,
    /// Distributed data parallel over every CUDA device (needs `--features cuda`).
    Ddp,
}

/// Train the sine model (the Keras recipe) with burn-train.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Training epochs.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Seed of the data, the initial weights and the batch order.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Clip the gradients' global norm to this value.
    #[arg(long)]
    clip: Option<f64>,
    /// Where the artifacts go.
    #[arg(long, value_name = "DIR", default_value = "artifacts/learner/sine")]
    artifacts: PathBuf,
    /// How the training uses the devices.
    #[arg(long, value_enum, default_value = "single")]
    strategy: Strategy,
    /// Backend: flex or ndarray (CPU), wgpu (with `--features wgpu`), cuda (with
    /// `--features cuda`). Default: the first compiled in.
    #[arg(long)]
    backend: Option<String>,
}

/// What rebuilds the model: saved as `config.json`.
#[derive(Config, Debug)]
struct LearnerSineConfig {
    model: SequenceRegressorConfig,
    epochs: usize,
    batch_size: usize,
    learning_rate: f64,
    seed: u64,
}

fn main() -> ExitCode {
    common::exit_with(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    if args.epochs == 0 || args.batch_size == 0 {
        return Err(Error::Config(
            "--epochs and --batch-size must be at least 1".into(),
        ));
    }
    let strategy = execution_strategy(&args)?;
    let device = strategy.main_device().clone();
    println!("burn-lstm learner: the sine model under burn-train on {device:?}");

    let config = LearnerSineConfig {
        model: SequenceRegressorConfig::new(LstmConfig::new(1, 50)).with_clip_grad_norm(args.clip),
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: 1e-3,
        seed: args.seed,
    };
    std::fs::create_dir_all(&args.artifacts).map_err(|err| Error::io(&args.artifacts, err))?;
    save_config(&config, &args.artifacts.join("config.json"))?;

    // The Keras recipe's 1000 windows, and 200 more drawn apart for validation.
    let train = WindowDataset::new(keras_sine_windows(1000, config.seed));
    let valid = WindowDataset::new(keras_sine_windows(200, config.seed + 1));
    let train_loader = DataLoaderBuilder::new(WindowBatcher)
        .batch_size(config.batch_size)
        .shuffle(config.seed)
        .build(train);
    let valid_loader = DataLoaderBuilder::new(WindowBatcher)
        .batch_size(config.batch_size)
        .build(valid);

    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let model = init_seeded(config.seed, &train_device, |d| config.model.try_init(d))?;
    let optimizer = OptimizerConfig::Adam { epsilon: 1e-7 }.init();

    let mut training = SupervisedTraining::new(&args.artifacts, train_loader, valid_loader)
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .with_default_checkpointers()
        .with_training_strategy(strategy.into())
        .num_epochs(config.epochs)
        .summary();
    // burn-train's dashboard on a terminal; elsewhere its plain renderer would print every
    // batch as a debug struct, so logs get one line per epoch instead.
    if !std::io::stdout().is_terminal() {
        training = training.renderer(Box::new(EpochLines::default()));
    }
    let result = training.launch(Learner::new(model, optimizer, config.learning_rate));
    if let Some(error) = result.error {
        return Err(Error::Training(format!("training stopped: {error}")));
    }
    let model_path = args.artifacts.join("model.bpk");
    save_module(&result.model, &model_path)?;
    println!("model: {}", model_path.display());
    Ok(())
}

/// The devices burn-train trains on: the backend's device, or (`--strategy ddp`) every CUDA
/// device in a distributed data parallel strategy.
fn execution_strategy(args: &Args) -> Result<ExecutionStrategy> {
    match args.strategy {
        Strategy::Single => {
            let choice = match &args.backend {
                Some(name) => Some(name.parse().map_err(Error::Config)?),
                None => None,
            };
            let (_, device) = common::start_device(choice)?;
            Ok(ExecutionStrategy::single(device.autodiff()))
        }
        Strategy::Ddp => ddp_over_cuda_devices(),
    }
}

#[cfg(feature = "cuda")]
fn ddp_over_cuda_devices() -> Result<ExecutionStrategy> {
    use burn::tensor::DeviceType;
    use burn::tensor::distributed::{DistributedConfig, ReduceOperation};
    let devices: Vec<Device> = Device::enumerate(DeviceType::Cuda)
        .into_iter()
        .map(|device| device.autodiff())
        .collect();
    if devices.is_empty() {
        return Err(Error::Config(
            "--strategy ddp found no CUDA device (is the NVIDIA driver installed?)".into(),
        ));
    }
    println!("DDP over {} CUDA devices", devices.len());
    let config = DistributedConfig {
        all_reduce_op: ReduceOperation::Mean,
    };
    Ok(ExecutionStrategy::ddp(devices, config))
}

#[cfg(not(feature = "cuda"))]
fn ddp_over_cuda_devices() -> Result<ExecutionStrategy> {
    Err(Error::Config(
        "--strategy ddp needs burn's CUDA backend: rebuild with `--features cuda` (burn 0.22's \
         all-reduce runs on CUDA only)"
            .into(),
    ))
}
