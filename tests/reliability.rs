//! What users do to programs: bad files, bad flags, diverging training, and killing a run in
//! the middle. Every user error is a sentence and a failure status, never a panic; a killed
//! run loses at most the epoch in progress and leaves no file that cannot be loaded.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use burn::prelude::*;
use burn_lstm::LstmConfig;
use burn_lstm::files::{load_module, save_module};
use burn_lstm_programs::Error;
use burn_lstm_programs::language::{StreamBatches, read_corpus};
use burn_lstm_programs::sine::keras_sine_windows;
use burn_lstm_programs::sine::{RegressionTask, SequenceRegressor, SequenceRegressorConfig};
use burn_lstm_programs::train::{
    BatchLoss, Checkpoints, Evaluation, LrSchedule, OptimizerConfig, ProgressMode, TrainTask,
    Trainer, TrainingConfig, read_metrics_csv,
};
use common::program::{example, run, text};

fn config() -> SequenceRegressorConfig {
    SequenceRegressorConfig::new(LstmConfig::new(1, 8))
}

fn saved_model(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("model.bpk");
    save_module(&config().init(&Device::flex()), &path).unwrap();
    path
}

fn load_error(path: &Path, config: &SequenceRegressorConfig) -> String {
    load_module(config.init(&Device::flex()), path)
        .expect_err("must not load")
        .to_string()
}

#[test]
fn a_missing_artifacts_directory_is_named() {
    let output = run("sine", &["--predict", "--artifacts", "/nonexistent/run"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no trained model in /nonexistent/run") && !stderr.contains("panicked"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_truncated_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved_model(dir.path());
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let message = load_error(&path, &config());
    assert!(
        message.contains("model.bpk") && message.contains("not a model record"),
        "{message}"
    );
}

#[test]
fn random_bytes_are_not_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bpk");
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(&path, noise).unwrap();
    let message = load_error(&path, &config());
    assert!(
        message.contains("model.bpk") && message.contains("not a model record"),
        "{message}"
    );
}

#[test]
fn a_record_of_another_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved_model(dir.path());
    let message = load_error(&path, &SequenceRegressorConfig::new(LstmConfig::new(1, 16)));
    assert!(
        message.contains("does not fit the model of this configuration"),
        "{message}"
    );
    assert!(
        message.contains("[1, 32]") || message.contains("16") || message.contains("shape"),
        "names the mismatch: {message}"
    );
}

#[test]
fn corpora_must_exist_hold_text_and_be_long_enough() {
    let dir = tempfile::tempdir().unwrap();
    let missing = read_corpus(&dir.path().join("none.txt"))
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("none.txt") && missing.contains("No such file"),
        "{missing}"
    );
    let empty = dir.path().join("empty.txt");
    fs::write(&empty, " \n\n").unwrap();
    assert!(
        read_corpus(&empty)
            .unwrap_err()
            .to_string()
            .contains("the corpus is empty")
    );
    let binary = dir.path().join("binary.txt");
    fs::write(&binary, [b'a', b'b', 0xc3, 0x28, b'c']).unwrap();
    let message = read_corpus(&binary).unwrap_err().to_string();
    assert!(
        message.contains("not UTF-8 text (invalid byte at offset 2)"),
        "{message}"
    );
    let short = StreamBatches::new(&[1, 2, 3, 4, 5], 2, 5)
        .unwrap_err()
        .to_string();
    assert!(
        short.contains("5 tokens are too few for one batch of 2 streams × 6 steps"),
        "{short}"
    );
}

/// A task whose loss turns into NaN at a chosen epoch and batch.
struct Diverging {
    inner: RegressionTask,
    epoch: usize,
    at: (usize, usize),
}

impl TrainTask for Diverging {
    type Model = SequenceRegressor;
    fn start_epoch(&mut self, epoch: usize, seed: u64) -> usize {
        self.epoch = epoch;
        self.inner.start_epoch(epoch, seed)
    }
    fn batch_loss(&mut self, model: &SequenceRegressor, batch: usize) -> BatchLoss {
        let mut loss = self.inner.batch_loss(model, batch);
        if (self.epoch, batch) == self.at {
            loss.loss = loss.loss.mul_scalar(f64::NAN);
        }
        loss
    }
    fn evaluate(&mut self, model: &SequenceRegressor) -> burn_lstm_programs::Result<Evaluation> {
        self.inner.evaluate(model)
    }
}

#[test]
fn a_non_finite_loss_stops_the_run_and_keeps_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex().autodiff();
    let inner = RegressionTask::new(keras_sine_windows(64, 1), None, 16, &device);
    let mut task = Diverging {
        inner,
        epoch: 0,
        at: (2, 2),
    };
    let trainer = Trainer::new(
        TrainingConfig::new(5, OptimizerConfig::adam(), LrSchedule::constant(1e-3)),
        dir.path(),
        &device,
    )
    .with_progress(ProgressMode::Silent);
    let message = match trainer.fit(config().init(&device), &mut task, false) {
        Err(Error::Training(message)) => message,
        other => panic!(
            "expected a training error, got {:?}",
            other.map(|o| o.state.epochs_done)
        ),
    };
    assert!(
        message.contains("the loss became NaN at epoch 3, batch 3"),
        "{message}"
    );
    assert!(
        message.contains("last good checkpoint (after epoch 2)"),
        "{message}"
    );
    let state = Checkpoints::new(dir.path().join("checkpoint"))
        .latest_state()
        .unwrap()
        .unwrap();
    assert_eq!(state.epochs_done, 2);
    load_module(
        config().init(&Device::flex()),
        &dir.path().join("model.bpk"),
    )
    .expect("the kept model loads");
}

#[test]
fn a_diverging_program_says_where_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let output = run(
        "sine",
        &[
            "--recipe",
            "torch",
            "--lr",
            "1e9",
            "--epochs",
            "200",
            "--artifacts",
            artifacts.to_str().unwrap(),
        ],
    );
    assert!(!output.status.success(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: the loss became")
            && stderr.contains("at epoch")
            && stderr.contains("batch 1"),
        "{}",
        text(&output)
    );
    assert!(!stderr.contains("panicked"));
}

/// Every artifact file of a run can be read back (the checkpoint's too). Files still being
/// written carry `.partial` in their name and are never read.
fn assert_artifacts_load(dir: &Path) {
    let config_text = fs::read_to_string(dir.join("config.json")).expect("config.json");
    let json: serde_json::Value = serde_json::from_str(&config_text).expect("config.json is JSON");
    let model_config: SequenceRegressorConfig =
        serde_json::from_value(json["model"].clone()).expect("model config");
    if dir.join("model.bpk").exists() {
        load_module(model_config.init(&Device::flex()), &dir.join("model.bpk"))
            .expect("model.bpk loads");
        read_metrics_csv(&dir.join("metrics.csv")).expect("metrics.csv reads");
    }
    let checkpoints = Checkpoints::new(dir.join("checkpoint"));
    if let Some(latest) = checkpoints.latest().expect("checkpoint/latest reads") {
        load_module(
            model_config.init(&Device::flex()),
            &latest.join("model.bpk"),
        )
        .expect("checkpoint model loads");
        checkpoints.latest_state().expect("training.json reads");
        assert!(latest.join("optimizer.bpk").is_file());
    }
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            name.contains(".partial")
                || ["config.json", "model.bpk", "metrics.csv", "checkpoint"]
                    .contains(&name.as_str()),
            "unexpected file {name}"
        );
    }
}

fn start(args: &[&str]) -> Child {
    Command::new(example("sine"))
        .args(args)
        .args(["--backend", "flex", "--progress", "lines"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the program")
}

fn epochs_checkpointed(dir: &Path) -> usize {
    Checkpoints::new(dir.join("checkpoint"))
        .latest_state()
        .ok()
        .flatten()
        .map_or(0, |s| s.epochs_done)
}

#[test]
fn a_killed_run_resumes_where_it_stopped_and_leaves_only_loadable_files() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let path = artifacts.to_str().unwrap();
    let epochs = 40;
    let mut resumed_from = Vec::new();
    // Kill it five times, at different moments of an epoch, each after some progress.
    for round in 0..5u64 {
        let before = epochs_checkpointed(&artifacts);
        let epochs_text = epochs.to_string();
        let mut args = vec![
            "--epochs",
            epochs_text.as_str(),
            "--hidden",
            "16",
            "--artifacts",
            path,
        ];
        if round > 0 {
            args.push("--resume");
        }
        let mut child = start(&args);
        let deadline = Instant::now() + Duration::from_secs(120);
        while epochs_checkpointed(&artifacts) <= before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Somewhere inside the next epoch (or in the middle of writing its checkpoint).
        std::thread::sleep(Duration::from_millis(37 * (round + 1)));
        child.kill().expect("SIGKILL");
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if round > 0 {
            let line = stdout
                .lines()
                .find(|l| l.contains("resuming from the checkpoint after epoch"))
                .expect(&stdout);
            let epoch: usize = line
                .split("after epoch ")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(epoch, before, "resumed from the last checkpoint");
            resumed_from.push(epoch);
        }
        assert_artifacts_load(&artifacts);
        let done = epochs_checkpointed(&artifacts);
        assert!(
            done > before,
            "round {round}: no progress ({before} → {done})"
        );
        assert!(
            done < epochs,
            "the run finished before it was killed; make it longer"
        );
    }
    // The sixth start finishes the run.
    let finished = Command::new(example("sine"))
        .args([
            "--resume",
            "--artifacts",
            path,
            "--backend",
            "flex",
            "--progress",
            "lines",
        ])
        .output()
        .unwrap();
    assert!(finished.status.success(), "{}", text(&finished));
    let metrics = read_metrics_csv(&artifacts.join("metrics.csv")).unwrap();
    assert_eq!(metrics.len(), epochs);
    assert_eq!(
        metrics.iter().map(|m| m.0).collect::<Vec<_>>(),
        (1..=epochs).collect::<Vec<_>>()
    );
    println!("resumed from epochs {resumed_from:?}");
}
