//! The same training run on every compiled backend: one epoch of the Keras sine recipe from
//! identical initial weights and batch order gives the same mean training loss (≤ 1e-4 apart);
//! on wgpu it runs on the CubeCL kernels.

mod common;

use burn::prelude::*;
use burn_lstm::LstmConfig;
use burn_lstm::files::{load_module, save_module};
use burn_lstm_programs::backend::BackendChoice;
use burn_lstm_programs::sine::keras_sine_windows;
use burn_lstm_programs::sine::{RegressionTask, SequenceRegressorConfig};
use burn_lstm_programs::train::{
    LrSchedule, OptimizerConfig, ProgressMode, Trainer, TrainingConfig,
};

fn first_epoch_loss(
    backend: BackendChoice,
    initial: &std::path::Path,
    dir: &std::path::Path,
) -> f64 {
    let device = backend.device().expect("compiled backend").autodiff();
    // The recipe's model as the sine program builds it (the crate's default initialiser).
    let config = SequenceRegressorConfig::new(LstmConfig::new(1, 50));
    let model = load_module(config.init(&device), initial).expect("initial weights");
    let mut task = RegressionTask::new(keras_sine_windows(1000, 42), None, 32, &device);
    let training = TrainingConfig::new(
        1,
        OptimizerConfig::Adam { epsilon: 1e-7 },
        LrSchedule::constant(1e-3),
    );
    #[cfg(feature = "wgpu")]
    let launches = burn_lstm::testing::recurrence_kernel_launches();
    let outcome = Trainer::new(training, dir.join(backend.name()), &device)
        .with_progress(ProgressMode::Silent)
        .fit(model, &mut task, false)
        .expect("one epoch");
    #[cfg(feature = "wgpu")]
    if backend == BackendChoice::Wgpu {
        let launched = burn_lstm::testing::recurrence_kernel_launches() - launches;
        // 32 batches: a forward and a backward launch each, and the evaluation's forwards.
        assert!(launched >= 64, "wgpu ran {launched} recurrence kernels");
    }
    outcome.state.history[0].train_loss
}

#[test]
fn one_keras_epoch_agrees_across_backends() {
    let dir = tempfile::tempdir().unwrap();
    let initial = dir.path().join("initial.bpk");
    let cpu = Device::flex();
    cpu.seed(42);
    let model = SequenceRegressorConfig::new(LstmConfig::new(1, 50)).init(&cpu);
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

/// On a machine without a Vulkan driver the GPU backend neither panics nor hangs (wgpu's
/// OpenGL fallback did both): the program stops at once with one line naming the fixes.
#[cfg(feature = "wgpu")]
#[test]
fn no_vulkan_adapter_is_one_clear_error_not_a_hang() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(common::program::example("sine"))
        .args([
            "--backend",
            "wgpu",
            "--epochs",
            "1",
            "--progress",
            "none",
            "--artifacts",
        ])
        .arg(dir.path())
        // The Vulkan loader finds no driver: as on a machine without one.
        .env("VK_ICD_FILENAMES", "/nonexistent")
        .env("VK_DRIVER_FILES", "/nonexistent")
        .env_remove(burn_lstm_programs::backend::WGPU_API_VARIABLE)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("the program hung without a Vulkan driver");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Cargo shares one example binary between feature sets: a `--test backends` run
    // builds no examples and may find one built without the GPU backend.
    assert!(
        !stderr.contains("is not compiled in"),
        "the sine example was built without wgpu: run \
         `cargo build --release --features wgpu --example sine` first\n{stderr}"
    );
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let error: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error.len(), 1, "{stderr}");
    for fix in [
        "no GPU adapter found through Vulkan",
        "mesa-vulkan-drivers",
        "--backend flex",
    ] {
        assert!(error[0].contains(fix), "{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}
