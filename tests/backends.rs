//! The same training run on every compiled backend: one epoch of the Keras sine recipe from
//! identical initial weights and batch order gives the same mean training loss (≤ 1e-4 apart).

mod common;

use burn::prelude::*;
use burn_lstm::backend::BackendChoice;
use burn_lstm::data::keras_sine_windows;
use burn_lstm::models::{RegressionTask, SequenceRegressorConfig};
use burn_lstm::files::{load_module, save_module};
use burn_lstm::train::{LrSchedule, OptimizerConfig, ProgressMode, Trainer, TrainingConfig};

fn first_epoch_loss(
    backend: BackendChoice,
    initial: &std::path::Path,
    dir: &std::path::Path,
) -> f64 {
    let device = backend.device().expect("compiled backend").autodiff();
    // The recipe's model as the sine program builds it (the crate's default initialiser).
    let config = SequenceRegressorConfig::new(1, 50);
    let model = load_module(config.init(&device), initial).expect("initial weights");
    let mut task = RegressionTask::new(keras_sine_windows(1000, 42), None, 32, &device);
    let training = TrainingConfig::new(
        1,
        OptimizerConfig::Adam { epsilon: 1e-7 },
        LrSchedule::constant(1e-3),
    );
    let outcome = Trainer::new(training, dir.join(backend.name()), &device)
        .with_progress(ProgressMode::Silent)
        .fit(model, &mut task, false)
        .expect("one epoch");
    outcome.state.history[0].train_loss
}

#[test]
fn one_keras_epoch_agrees_across_backends() {
    let dir = tempfile::tempdir().unwrap();
    let initial = dir.path().join("initial.bpk");
    let cpu = Device::flex();
    cpu.seed(42);
    let model = SequenceRegressorConfig::new(1, 50).init(&cpu);
    save_module(&model, &initial).unwrap();

    let losses: Vec<(BackendChoice, f64)> = BackendChoice::compiled()
        .into_iter()
        .map(|backend| (backend, first_epoch_loss(backend, &initial, dir.path())))
        .collect();
    println!("first-epoch training loss: {losses:?}");
    let reference = losses[0].1;
    assert!(
        reference.is_finite() && reference < 0.5,
        "the epoch trained: {reference}"
    );
    for (backend, loss) in &losses {
        assert!(
            (loss - reference).abs() <= 1e-4,
            "{backend}: {loss} vs {reference}"
        );
    }
    assert!(losses.len() >= 2 || cfg!(not(all(feature = "flex", feature = "ndarray"))));
}
