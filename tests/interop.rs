//! Real PyTorch 2.15 and Keras 3.15 checkpoints (the crate's `tests/data/interop`, or
//! `BURN_LSTM_INTEROP_DIR`) load through the public API and compute what those frameworks
//! computed (≤ 1e-5); our parameters go back out in PyTorch's format and in again unchanged.

mod common;

use std::path::PathBuf;

use burn::prelude::*;
use burn_lstm::interop::{load_keras_lstm, load_pytorch_bilstm, load_pytorch_lstm, read_tensors};
use burn_lstm::{Lstm, LstmConfig};
use common::golden::data_from_json;
use common::{cpu_devices, max_abs_diff};
use serde_json::Value;

fn interop_dir() -> PathBuf {
    common::data::data_dir("BURN_LSTM_INTEROP_DIR", "interop")
}

fn expected() -> Value {
    let path = interop_dir().join("expected.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("expected.json")
}

const TOLERANCE: f64 = 1e-5;

/// Runs `lstm` on the case's input and compares output, h_n and c_n; returns the max error.
fn check(name: &str, lstm: &Lstm, case: &Value, device: &Device) -> f64 {
    let input = Tensor::<3>::from_data(
        data_from_json(&case["input"], burn::tensor::DType::F32),
        device,
    );
    let (output, state) = lstm.forward(input, None);
    // Keras gives the final state as [batch, hidden], PyTorch as [layers·directions, batch, hidden].
    let as_expected = |tensor: Tensor<3>, key: &str| {
        let expected_rank = data_from_json(&case[key], burn::tensor::DType::F64)
            .shape()
            .num_dims();
        match expected_rank {
            2 => tensor.squeeze_dim::<2>(0).into_data(),
            _ => tensor.into_data(),
        }
    };
    let errors = [
        max_abs_diff(
            &format!("{name} output"),
            output.into_data(),
            &data_from_json(&case["output"], burn::tensor::DType::F64),
        ),
        max_abs_diff(
            &format!("{name} h_n"),
            as_expected(state.hidden, "h_n"),
            &data_from_json(&case["h_n"], burn::tensor::DType::F64),
        ),
        max_abs_diff(
            &format!("{name} c_n"),
            as_expected(state.cell, "c_n"),
            &data_from_json(&case["c_n"], burn::tensor::DType::F64),
        ),
    ];
    let worst = errors.iter().copied().fold(0.0, f64::max);
    println!("{name}: max |Δ| {worst:.2e}");
    assert!(worst <= TOLERANCE, "{name}: {errors:?}");
    worst
}

#[test]
fn pytorch_checkpoints_compute_what_pytorch_computed() {
    let expected = expected();
    let dir = interop_dir();
    for (_, device) in cpu_devices() {
        for file in ["torch_bi2", "torch_proj"] {
            for ext in ["pt", "safetensors"] {
                let lstm =
                    load_pytorch_lstm(&dir.join(format!("{file}.{ext}")), "", &device).unwrap();
                check(&format!("{file}.{ext}"), &lstm, &expected[file], &device);
            }
        }
        let bilstm = load_pytorch_bilstm(&dir.join("torch_bi2.pt"), "", &device).unwrap();
        assert_eq!(bilstm.lstm.num_layers(), 2);
        let proj = load_pytorch_lstm(&dir.join("torch_proj.pt"), "", &device).unwrap();
        assert_eq!((proj.hidden_size(), proj.hidden_out()), (6, 2));
        assert!(
            load_pytorch_bilstm(&dir.join("torch_proj.pt"), "", &device).is_err(),
            "not bidirectional"
        );
    }
}

#[test]
fn a_nested_lstm_loads_by_its_key_prefix() {
    let expected = expected();
    let case = &expected["torch_nested"];
    let prefix = case["lstm_prefix"].as_str().unwrap();
    let device = Device::flex();
    for ext in ["pt", "safetensors"] {
        let path = interop_dir().join(format!("torch_nested.{ext}"));
        let lstm = load_pytorch_lstm(&path, prefix, &device).unwrap();
        check(&format!("torch_nested.{ext}"), &lstm, case, &device);
        // The head beside it: output[:, -1] · Wᵀ + b, from the same file.
        let tensors = read_tensors(&path).unwrap();
        let weight = Tensor::<2>::from_data(tensors["head.weight"].clone(), &device);
        let bias = Tensor::<1>::from_data(tensors["head.bias"].clone(), &device);
        let input = Tensor::<3>::from_data(
            data_from_json(&case["input"], burn::tensor::DType::F32),
            &device,
        );
        let (output, _) = lstm.forward(input, None);
        let [batch, seq, hidden] = output.dims();
        let last = output.slice(s![.., seq - 1]).reshape([batch, hidden]);
        let head = last.matmul(weight.transpose()) + bias.unsqueeze_dim(0);
        let error = max_abs_diff(
            "head",
            head.into_data(),
            &data_from_json(&case["head_output"], burn::tensor::DType::F64),
        );
        assert!(error <= TOLERANCE, "head output differs by {error:e}");
    }
    let missing = load_pytorch_lstm(
        &interop_dir().join("torch_nested.pt"),
        "decoder.lstm.",
        &device,
    )
    .unwrap_err()
    .to_string();
    assert!(
        missing.contains("no LSTM parameters under prefix `decoder.lstm.`")
            && missing.contains("encoder.lstm.weight_ih_l0"),
        "{missing}"
    );
}

#[test]
#[cfg_attr(not(feature = "npz"), ignore = "reading .npz needs the `npz` feature")]
fn a_keras_layer_computes_what_keras_computed() {
    let expected = expected();
    let device = Device::flex();
    let lstm = load_keras_lstm(&interop_dir().join("keras_lstm.npz"), &device).unwrap();
    check("keras_lstm.npz", &lstm, &expected["keras_lstm"], &device);
}

#[test]
fn export_then_import_gives_identical_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    for config in [
        LstmConfig::new(4, 5)
            .with_num_layers(2)
            .with_bidirectional(true),
        LstmConfig::new(3, 6).with_proj_size(2),
    ] {
        let lstm = config.init(&device);
        let path = dir.path().join("exported.safetensors");
        lstm.save_pytorch_safetensors(&path).unwrap();
        let back = load_pytorch_lstm(&path, "", &device).unwrap();
        let (a, b) = (lstm.pytorch_parameters(), back.pytorch_parameters());
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (name, data) in &a {
            assert_eq!(data, &b[name], "{name} changed");
        }
        // The file holds exactly PyTorch's names.
        let names: Vec<String> = read_tensors(&path).unwrap().into_keys().collect();
        assert!(names.contains(&"weight_ih_l0".to_string()));
    }
}

#[test]
fn missing_extra_and_misshapen_keys_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let lstm = LstmConfig::new(3, 4).init(&device);
    let mut params = lstm.pytorch_parameters();
    let write = |params: &burn_lstm::NamedTensors, name: &str| {
        let path = dir.path().join(name);
        let holder = LstmConfig::new(3, 4).init(&device);
        // Write through our exporter, then replace the file's tensors by hand.
        holder.save_pytorch_safetensors(&path).unwrap();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = params
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    safetensors::tensor::TensorView::new(
                        safetensors::Dtype::F32,
                        v.shape().to_vec(),
                        v.as_bytes(),
                    )
                    .unwrap(),
                )
            })
            .collect();
        std::fs::write(&path, safetensors::tensor::serialize(views, None).unwrap()).unwrap();
        path
    };
    params.remove("bias_hh_l0");
    let message = load_pytorch_lstm(&write(&params, "missing.safetensors"), "", &device)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("missing parameter `bias_hh_l0`"),
        "{message}"
    );

    let mut params = lstm.pytorch_parameters();
    params.insert("weight_hr_l1".into(), TensorData::zeros::<f32, _>([2, 4]));
    let message = load_pytorch_lstm(&write(&params, "extra.safetensors"), "", &device)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("unexpected parameter `weight_hr_l1`"),
        "{message}"
    );

    let mut params = lstm.pytorch_parameters();
    params.insert("weight_hh_l0".into(), TensorData::zeros::<f32, _>([16, 3]));
    let message = load_pytorch_lstm(&write(&params, "shape.safetensors"), "", &device)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("`weight_hh_l0`")
            && message.contains("[16, 4]")
            && message.contains("[16, 3]"),
        "{message}"
    );

    // A first weight that is not four gates high: the layout is named, not a made-up shape.
    let mut params = lstm.pytorch_parameters();
    params.insert("weight_ih_l0".into(), TensorData::zeros::<f32, _>([5, 3]));
    let message = load_pytorch_lstm(&write(&params, "layout.safetensors"), "", &device)
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "parameter `weight_ih_l0`: expected a [4·hidden, input] matrix (PyTorch's four gates \
         stacked), got shape [5, 3]"
    );

    // A Keras kernel that is not four gates wide.
    let path = dir.path().join("kernel.safetensors");
    let kernel = TensorData::zeros::<f32, _>([3, 7]);
    let view = safetensors::tensor::TensorView::new(
        safetensors::Dtype::F32,
        kernel.shape().to_vec(),
        kernel.as_bytes(),
    )
    .unwrap();
    let recurrent = TensorData::zeros::<f32, _>([2, 8]);
    let recurrent_view = safetensors::tensor::TensorView::new(
        safetensors::Dtype::F32,
        recurrent.shape().to_vec(),
        recurrent.as_bytes(),
    )
    .unwrap();
    let bytes = safetensors::tensor::serialize(
        vec![("kernel", view), ("recurrent_kernel", recurrent_view)],
        None,
    )
    .unwrap();
    std::fs::write(&path, bytes).unwrap();
    let message = load_keras_lstm(&path, &device).unwrap_err().to_string();
    assert_eq!(
        message,
        "parameter `kernel`: expected an [input, 4·units] matrix (Keras's four gates side by \
         side), got shape [3, 7]"
    );
}
