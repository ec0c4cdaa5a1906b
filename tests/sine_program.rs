//! The sine program and the library pieces under it: learning, saving and reloading,
//! resuming, and clear errors for a user's bad CSV input.

mod common;

use std::fs;

use burn::prelude::*;
use burn_lstm::files::{load_module, save_module};
use burn_lstm::{LstmConfig, LstmInit};
use burn_lstm_programs::sine::keras_sine_windows;
use burn_lstm_programs::sine::{RegressionTask, SequenceRegressorConfig};
use burn_lstm_programs::train::{
    LrSchedule, OptimizerConfig, ProgressMode, Trainer, TrainingConfig, read_metrics_csv,
};
use common::program::{assert_succeeded_saying, run, text};

#[test]
fn a_short_seeded_run_lowers_the_loss_a_hundredfold() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex().autodiff();
    device.seed(1);
    let model = SequenceRegressorConfig::new(LstmConfig::new(1, 20).with_init(LstmInit::keras()))
        .init(&device);
    let windows = keras_sine_windows(256, 1);
    let before = RegressionTask::mse(&model, &windows, &device);
    let mut task = RegressionTask::new(windows.clone(), None, 32, &device);
    let training = TrainingConfig::new(6, OptimizerConfig::adam(), LrSchedule::constant(1e-2));
    let outcome = Trainer::new(training, dir.path(), &device)
        .with_progress(ProgressMode::Silent)
        .fit(model, &mut task, false)
        .unwrap();
    let after = RegressionTask::mse(&outcome.model, &windows, &device);
    println!("MSE before {before:.3e}, after 6 epochs {after:.3e}");
    assert!(
        after * 100.0 < before,
        "MSE fell only from {before:e} to {after:e}"
    );
}

#[test]
fn saved_models_predict_bit_identically() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let config = SequenceRegressorConfig::new(
        LstmConfig::new(1, 12)
            .with_num_layers(2)
            .with_bidirectional(true),
    );
    let model = config.init(&device);
    let path = dir.path().join("model.bpk");
    save_module(&model, &path).unwrap();
    let loaded = load_module(config.init(&device), &path).unwrap();
    let (inputs, _) = keras_sine_windows(16, 3).tensors(&(0..16).collect::<Vec<_>>(), &device);
    let expected = model.forward(inputs.clone()).into_data();
    assert_eq!(loaded.forward(inputs).into_data(), expected);
}

#[test]
fn the_program_trains_saves_and_predicts_from_its_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let artifacts = artifacts.to_str().unwrap();
    let trained = run(
        "sine",
        &["--epochs", "2", "--hidden", "16", "--artifacts", artifacts],
    );
    assert!(trained.status.success(), "{}", text(&trained));
    for file in [
        "config.json",
        "model.bpk",
        "metrics.csv",
        "loss.png",
        "prediction.png",
        "seed_prediction.png",
    ] {
        assert!(
            dir.path().join("run").join(file).is_file(),
            "{file} missing\n{}",
            text(&trained)
        );
    }
    let predicted = run(
        "sine",
        &["--predict", "--horizon", "30", "--artifacts", artifacts],
    );
    assert!(predicted.status.success(), "{}", text(&predicted));
    let stdout = String::from_utf8_lossy(&predicted.stdout);
    // The reloaded model reports the training-set MSE the trained one reported.
    let line = |out: &str| {
        out.lines()
            .find(|l| l.contains("training windows"))
            .map(str::to_owned)
    };
    assert_eq!(
        line(&stdout),
        line(&String::from_utf8_lossy(&trained.stdout)),
        "{}",
        text(&predicted)
    );
    assert!(dir.path().join("run/forecast.png").is_file());
}

#[test]
fn resume_ends_with_the_metrics_of_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let split = dir.path().join("split");
    let common = ["--recipe", "torch", "--hidden", "6"];
    let uninterrupted = run(
        "sine",
        &[
            &common[..],
            &["--epochs", "6", "--artifacts", whole.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(uninterrupted.status.success(), "{}", text(&uninterrupted));
    // The torch recipe checkpoints every 1000 epochs; a short run checkpoints at its end.
    let first = run(
        "sine",
        &[
            &common[..],
            &["--epochs", "3", "--artifacts", split.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(first.status.success(), "{}", text(&first));
    let resumed = run(
        "sine",
        &[
            "--resume",
            "--epochs",
            "6",
            "--artifacts",
            split.to_str().unwrap(),
        ],
    );
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert!(
        String::from_utf8_lossy(&resumed.stdout)
            .contains("resuming from the checkpoint after epoch 3"),
        "{}",
        text(&resumed)
    );
    let expected = read_metrics_csv(&whole.join("metrics.csv")).unwrap();
    let got = read_metrics_csv(&split.join("metrics.csv")).unwrap();
    assert_eq!(got.len(), 6);
    // Every epoch's training loss is the same to the last bit, and so is the final
    // evaluation. (The interrupted run also evaluated at its own last epoch, 3.)
    let train =
        |rows: &[(usize, f64, Option<f64>)]| rows.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>();
    assert_eq!(
        train(&got),
        train(&expected),
        "resumed training losses differ from the uninterrupted run"
    );
    assert_eq!(got[5].2, expected[5].2, "final validation loss differs");
    assert!(got[5].2.is_some());
}

/// A series of one's own is the forecast program's: `--csv` says where to go, and fails.
#[test]
fn a_csv_series_is_sent_to_the_forecast_program() {
    let output = run("sine", &["--csv", "series.csv", "--column", "value"]);
    assert!(!output.status.success(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("now the forecast program's: cargo run --release --example forecast"),
        "{stderr}"
    );
}

#[test]
fn unknown_flags_and_bad_values_are_refused_by_the_parser() {
    for args in [
        &["--no-such-flag"][..],
        &["--epochs", "many"],
        &["--recipe", "tensorflow"],
    ] {
        let output = run("sine", args);
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("error:") && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
}

#[test]
fn bad_input_leaves_an_earlier_run_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let art = artifacts.to_str().unwrap();
    let trained = run(
        "sine",
        &["--epochs", "1", "--hidden", "8", "--artifacts", art],
    );
    assert!(trained.status.success(), "{}", text(&trained));
    let model = fs::read(artifacts.join("model.bpk")).unwrap();
    let failed = run("sine", &["--epochs", "0", "--artifacts", art]);
    assert!(!failed.status.success());
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("--epochs must be at least 1"),
        "{}",
        text(&failed)
    );
    assert_eq!(fs::read(artifacts.join("model.bpk")).unwrap(), model);
    assert!(
        !dir.path().join("run.previous").exists(),
        "nothing was moved aside"
    );
    // A fresh run over it keeps the earlier one beside it.
    let again = run(
        "sine",
        &["--epochs", "1", "--hidden", "8", "--artifacts", art],
    );
    assert!(again.status.success());
    assert_eq!(
        fs::read(dir.path().join("run.previous/model.bpk")).unwrap(),
        model
    );
    // A third fresh run loses neither earlier one: the first stays in `.previous`, the
    // second goes to `.previous.2`.
    let second = fs::read(artifacts.join("model.bpk")).unwrap();
    let third = run(
        "sine",
        &["--epochs", "1", "--hidden", "8", "--artifacts", art],
    );
    assert_succeeded_saying(&third, "run.previous.2");
    assert_eq!(
        fs::read(dir.path().join("run.previous/model.bpk")).unwrap(),
        model,
        "the first run is kept"
    );
    assert_eq!(
        fs::read(dir.path().join("run.previous.2/model.bpk")).unwrap(),
        second,
        "the second run is kept"
    );
    assert!(artifacts.join("model.bpk").is_file());
}

/// `--predict --horizon 0` asks for a forecast of nothing: refused, nothing written.
#[test]
fn a_zero_horizon_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let art = artifacts.to_str().unwrap();
    let trained = run(
        "sine",
        &["--epochs", "1", "--hidden", "8", "--artifacts", art],
    );
    assert!(trained.status.success(), "{}", text(&trained));
    let refused = run("sine", &["--predict", "--horizon", "0", "--artifacts", art]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("invalid value '0' for '--horizon <N>'"),
        "{stderr}"
    );
    assert!(!artifacts.join("forecast.png").exists());
}

/// Each program's `--help` opens with what the program does, not with the crate's summary.
#[test]
fn help_opens_with_the_programs_own_description() {
    for (program, first_line) in [
        (
            "sine",
            "Train an LSTM to predict the next value of a sine wave",
        ),
        (
            "forecast",
            "Forecast your own series (a CSV file's columns, a long file with an id column, or a \
             folder of files) with one LSTM across them",
        ),
        (
            "language_model",
            "Train an LSTM language model, evaluate its perplexity, or generate text with it",
        ),
    ] {
        let output = std::process::Command::new(common::program::example(program))
            .arg("--help")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output));
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(
            help.lines().next().unwrap().starts_with(first_line),
            "{program} --help opens with: {}",
            help.lines().next().unwrap()
        );
    }
}
