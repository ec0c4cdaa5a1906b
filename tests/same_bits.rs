//! The same bits whatever the kernel planner's timer saw: training ends with identical
//! weights under `auto` (the planner's measured choice among the kernels of one rounding),
//! with each tile kernel forced, and with the input projection forced stacked or apart, for the sine model (the main job's recipe) and for the first
//! steps of a language model of the PTB small model's shapes (whose output layer's products
//! are the classes where `auto` once picked the gemm crate, which rounds differently).
//!
//! Each setting runs in a child process of this test binary (`BURN_LSTM_KERNEL` is read once
//! per process); the children write every parameter's values, bit for bit, and the parent
//! compares the tensors.

#![cfg(feature = "flex")]

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use burn_lstm::cpu::{CpuKernel, KERNEL_VARIABLE};
use burn_lstm::{INPUT_PROJECTION_VARIABLE, LstmConfig};
use burn_lstm_programs::language::{LanguageModelConfig, StreamTask};
use burn_lstm_programs::sine::{RegressionTask, SequenceRegressorConfig, keras_sine_windows};
use burn_lstm_programs::train::{
    LrSchedule, OptimizerConfig, ProgressMode, Trainer, TrainingConfig,
};

/// Set in a child's environment.
const CHILD_VARIABLE: &str = "BURN_LSTM_SAME_BITS_CHILD";
/// Where a child writes its weights.
const OUTPUT_VARIABLE: &str = "BURN_LSTM_SAME_BITS_OUT";

/// Every parameter's values as bits, in the module's order.
#[derive(Default)]
struct Bits(Vec<Vec<u32>>);

impl ModuleVisitor for Bits {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let values = param.val().into_data().convert::<f32>();
        self.0
            .push(values.iter::<f32>().map(f32::to_bits).collect());
    }
}

/// The child: trains both models with this process's kernel and writes their weights' bits.
#[test]
#[ignore = "run by training_ends_with_the_same_weights_whatever_kernel_served"]
fn train_both_models_and_write_their_weights() {
    let out = std::env::var(OUTPUT_VARIABLE).expect("run by the parent test");
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex().autodiff();
    let mut bits = Bits::default();

    // The main job's recipe: LSTM(50), the Keras windows, Adam; a few epochs.
    device.seed(42);
    let sine = SequenceRegressorConfig::new(LstmConfig::new(1, 50)).init(&device);
    let mut task = RegressionTask::new(keras_sine_windows(1000, 42), None, 32, &device);
    let training = TrainingConfig::new(3, OptimizerConfig::adam(), LrSchedule::constant(1e-3));
    let sine = Trainer::new(training, dir.path().join("sine"), &device)
        .with_progress(ProgressMode::Silent)
        .fit(sine, &mut task, false)
        .unwrap()
        .model;
    sine.visit(&mut bits);

    // The PTB small model's shapes: vocabulary 10 000, two layers of 200, 20 streams of 20
    // steps; three batches of made-up tokens.
    device.seed(7);
    let (vocabulary, batch, unroll) = (10_000, 20, 20);
    let tokens: Vec<usize> = (0..batch * unroll * 3 + 1)
        .map(|i| (i * 7919 + 13) % vocabulary)
        .collect();
    let config = LanguageModelConfig::new(vocabulary, LstmConfig::new(200, 200).with_num_layers(2));
    let model = config.init(&device);
    let mut task = StreamTask::new(&tokens, None, batch, unroll, true, &device).unwrap();
    let training = TrainingConfig::new(1, OptimizerConfig::Sgd, LrSchedule::constant(1.0))
        .with_clip_grad_norm(Some(5.0));
    let model = Trainer::new(training, dir.path().join("lm"), &device)
        .with_progress(ProgressMode::Silent)
        .fit(model, &mut task, false)
        .unwrap()
        .model;
    model.visit(&mut bits);

    let mut bytes = Vec::new();
    for tensor in &bits.0 {
        bytes.extend((tensor.len() as u64).to_le_bytes());
        bytes.extend(tensor.iter().flat_map(|b| b.to_le_bytes()));
    }
    std::fs::write(out, bytes).unwrap();
}

#[test]
fn training_ends_with_the_same_weights_whatever_kernel_served() {
    if std::env::var_os(CHILD_VARIABLE).is_some() {
        return; // a child
    }
    let dir = tempfile::tempdir().unwrap();
    let tiles: Vec<&str> = CpuKernel::same_bits()
        .into_iter()
        .filter(|&kernel| kernel != CpuKernel::Gemm)
        .map(CpuKernel::name)
        .collect();
    // Each run: what it is called and the variables it sets.
    let mut settings: Vec<(String, &str, &str)> = std::iter::once("auto")
        .chain(tiles.iter().copied())
        .map(|kernel| (kernel.to_string(), KERNEL_VARIABLE, kernel))
        .collect();
    for way in ["stacked", "apart"] {
        let name = format!("input projection {way}");
        settings.push((name, INPUT_PROJECTION_VARIABLE, way));
    }
    let mut runs = Vec::new();
    for (choice, variable, value) in &settings {
        let out = dir.path().join(format!("{}.bits", runs.len()));
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "train_both_models_and_write_their_weights",
                "--exact",
                "--ignored",
            ])
            .args(["--test-threads", "1"])
            .env(CHILD_VARIABLE, "1")
            .env(variable, value)
            .env(OUTPUT_VARIABLE, &out)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{choice}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        runs.push((choice.as_str(), std::fs::read(&out).unwrap()));
    }
    println!(
        "runs compared: {:?}",
        runs.iter().map(|(choice, _)| *choice).collect::<Vec<_>>()
    );
    let (first, expected) = &runs[0];
    assert!(!expected.is_empty());
    for (choice, bits) in &runs[1..] {
        assert!(
            bits == expected,
            "training under {choice} ended with other weights than under {first}"
        );
    }
}
