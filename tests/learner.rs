//! burn-train trains the crate's models: the learner example runs an epoch as a user runs it,
//! logging one line per epoch, and leaves burn-train's checkpoints and a model that loads.

mod common;

use std::process::Command;

use burn::prelude::*;
use burn_lstm::LstmConfig;
use burn_lstm::files::load_module;
use burn_lstm_programs::sine::SequenceRegressorConfig;
use common::program::{example, text};

#[test]
fn the_learner_example_trains_an_epoch_and_logs_one_line_per_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("sine");
    let output = Command::new(example("learner"))
        .args(["--epochs", "2", "--backend", "flex", "--artifacts"])
        .arg(&artifacts)
        .output()
        .expect("run the learner example");
    let log = text(&output);
    assert!(output.status.success(), "{log}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let epoch_lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("epoch ")).collect();
    assert_eq!(epoch_lines.len(), 2, "one line per epoch:\n{log}");
    for (epoch, line) in epoch_lines.iter().enumerate() {
        assert!(
            line.starts_with(&format!("epoch {}/2", epoch + 1)),
            "{line}"
        );
        assert!(
            line.contains("train Loss") && line.contains("valid Loss"),
            "{line}"
        );
    }
    assert!(
        !stdout.contains("ProgressSnapshot"),
        "no debug structs in the log:\n{log}"
    );
    // The loss fell from the first epoch to the second.
    let loss = |line: &str| -> f64 {
        let after = line.split("valid Loss ").nth(1).expect("a valid loss");
        after.split_whitespace().next().unwrap().parse().unwrap()
    };
    assert!(loss(epoch_lines[1]) < loss(epoch_lines[0]), "{log}");
    // burn-train's checkpoints, and the model the program saved, which loads.
    assert!(artifacts.join("checkpoint").is_dir(), "{log}");
    let device = Device::flex();
    let model = load_module(
        SequenceRegressorConfig::new(LstmConfig::new(1, 50)).init(&device),
        &artifacts.join("model.bpk"),
    )
    .expect("the trained model loads");
    let prediction = model.forward(Tensor::zeros([2, 49, 1], &device));
    assert_eq!(prediction.dims(), [2, 1]);
}

#[test]
fn ddp_without_the_cuda_feature_is_a_clear_error() {
    if cfg!(feature = "cuda") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(example("learner"))
        .args(["--epochs", "1", "--strategy", "ddp", "--artifacts"])
        .arg(dir.path())
        .output()
        .expect("run the learner example");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--features cuda"), "{stderr}");
}

/// The learner's `--help` opens with what the program does.
#[test]
fn help_opens_with_the_programs_own_description() {
    let output = Command::new(example("learner"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.starts_with("Train the sine model (the Keras recipe) with burn-train"),
        "{help}"
    );
}
