//! The fused CPU step and the fused output loss compute what the composed burn operations
//! compute: the golden cases pass on the composed path too, and random configurations agree
//! between the two paths (outputs, states and gradients) to rounding.
//!
//! One test function: the path switch is process-wide.

mod common;

use burn::prelude::*;
use burn::tensor::{DType, Distribution, Int};
use burn_lstm::models::LanguageModelConfig;
use burn_lstm::{LstmConfig, LstmState, set_fused_steps};
use common::golden::{GoldenCase, check_case, golden_files};
use common::{cpu_devices, max_abs_diff};

/// Output, h_n, c_n and every gradient of `sum(out·R) + sum(h_n) + sum(c_n)`.
fn lstm_run(
    config: &LstmConfig,
    params: &burn_lstm::NamedTensors,
    input: &TensorData,
    weights: &TensorData,
    device: &Device,
) -> Vec<(String, TensorData)> {
    let device = device.clone().autodiff();
    let lstm = config
        .init(&device)
        .load_pytorch_parameters(params.clone(), &device)
        .unwrap();
    let input = Tensor::<3>::from_data(input.clone(), (&device, DType::F64)).require_grad();
    let (out, state): (Tensor<3>, LstmState) = lstm.forward(input.clone(), None);
    let loss = (out.clone() * Tensor::from_data(weights.clone(), (&device, DType::F64))).sum()
        + state.hidden.clone().sum()
        + state.cell.clone().sum();
    let grads = loss.backward();
    let mut results = vec![
        ("output".to_string(), out.into_data()),
        ("h_n".to_string(), state.hidden.into_data()),
        ("c_n".to_string(), state.cell.into_data()),
        (
            "d input".to_string(),
            input.grad(&grads).unwrap().into_data(),
        ),
    ];
    results.extend(
        lstm.pytorch_gradients(&grads)
            .into_iter()
            .map(|(k, v)| (format!("d {k}"), v)),
    );
    results
}

/// Loss and gradients of a language model's next-token loss (f32).
fn lm_run(
    config: &LanguageModelConfig,
    device: &Device,
    record: &std::path::Path,
    tokens: &[usize],
    targets: &[usize],
) -> Vec<(String, TensorData)> {
    let device = device.clone().autodiff();
    let model = burn_lstm::train::files::load_module(config.init(&device), record).unwrap();
    let tokens_tensor: Tensor<2, Int> = Tensor::from_data(
        TensorData::new(
            tokens.iter().map(|&t| t as i64).collect::<Vec<_>>(),
            [4, tokens.len() / 4],
        ),
        &device,
    );
    let (loss, _) = model.next_token_loss(tokens_tensor, targets, None);
    let grads = loss.backward();
    let mut results = vec![("loss".to_string(), loss.clone().into_data())];
    results.push((
        "d embedding".into(),
        model
            .embedding
            .weight
            .val()
            .grad(&grads)
            .unwrap()
            .into_data(),
    ));
    if let Some(output) = &model.output {
        results.push((
            "d output weight".into(),
            output.weight.val().grad(&grads).unwrap().into_data(),
        ));
    }
    results.extend(
        model
            .lstm
            .pytorch_gradients(&grads)
            .into_iter()
            .map(|(k, v)| (format!("d {k}"), v)),
    );
    results
}

#[test]
fn fused_and_composed_paths_agree() {
    // 1. Every golden case on the composed path.
    set_fused_steps(false);
    for (backend, device) in cpu_devices() {
        for path in golden_files() {
            let case = GoldenCase::load(&path);
            let errors = check_case(&case, &device);
            let tolerance = if case.is_f32() { 5e-5 } else { 1e-10 };
            assert!(
                errors.forward <= tolerance && errors.gradients <= tolerance,
                "composed {backend} {}: {errors:?}",
                case.name
            );
        }
    }

    // 2. Random LSTM configurations, f64: the two paths agree to rounding.
    let device = Device::flex();
    for (layers, bidirectional, batch_first) in [
        (1, false, true),
        (2, true, true),
        (3, false, false),
        (2, true, false),
    ] {
        let config = LstmConfig::new(3, 7)
            .with_num_layers(layers)
            .with_bidirectional(bidirectional)
            .with_batch_first(batch_first);
        let params = config
            .init(&device)
            .pytorch_parameters()
            .into_iter()
            .map(|(k, v)| (k, v.convert_dtype(DType::F64)))
            .collect();
        let input = Tensor::<3>::random([5, 6, 3], Distribution::Uniform(-1.0, 1.0), &device)
            .into_data()
            .convert_dtype(DType::F64);
        let output_size = if bidirectional { 14 } else { 7 };
        let shape = if batch_first {
            [5, 6, output_size]
        } else {
            [6, 5, output_size]
        };
        let input = if batch_first {
            input
        } else {
            TensorData::new(input.iter::<f64>().collect(), [6, 5, 3])
        };
        let weights = Tensor::<3>::random(shape, Distribution::Uniform(-1.0, 1.0), &device)
            .into_data()
            .convert_dtype(DType::F64);
        set_fused_steps(false);
        let composed = lstm_run(&config, &params, &input, &weights, &device);
        set_fused_steps(true);
        let fused = lstm_run(&config, &params, &input, &weights, &device);
        for ((name, a), (_, b)) in composed.into_iter().zip(&fused) {
            let error = max_abs_diff(&name, a, b);
            assert!(error < 1e-12, "{config:?}: {name} differs by {error:e}");
        }
    }

    // 3. The fused output loss, untied and tied, against the composed one (f32).
    let dir = tempfile::tempdir().unwrap();
    for tie in [false, true] {
        let config = LanguageModelConfig::new(50, 16, 16)
            .with_num_layers(2)
            .with_tie_weights(tie);
        let record = dir.path().join(format!("lm-{tie}.bpk"));
        burn_lstm::train::files::save_module(&config.init(&device), &record).unwrap();
        let tokens: Vec<usize> = (0..40).map(|i| (i * 7 + 3) % 50).collect();
        let targets: Vec<usize> = (0..40).map(|i| (i * 11 + 5) % 50).collect();
        set_fused_steps(false);
        let composed = lm_run(&config, &device, &record, &tokens, &targets);
        set_fused_steps(true);
        let fused = lm_run(&config, &device, &record, &tokens, &targets);
        for ((name, a), (_, b)) in composed.into_iter().zip(&fused) {
            let error = max_abs_diff(&name, a, b);
            assert!(error < 2e-5, "tied {tie}: {name} differs by {error:e}");
        }
    }
}
