//! The layers' public behaviour: shapes, clear errors for misuse, dropout, initialisers,
//! named gates, and parameters by PyTorch's names.

mod common;

use burn::module::Module;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn_lstm::{BiLstmConfig, LstmCellConfig, LstmConfig, LstmError, LstmInit, LstmState};
use common::{cpu_devices, max_abs_diff};

fn random(shape: [usize; 3], device: &Device) -> Tensor<3> {
    Tensor::random(shape, Distribution::Uniform(-1.0, 1.0), device)
}

fn error_text<T: std::fmt::Debug>(result: Result<T, LstmError>) -> String {
    result.expect_err("expected an error").to_string()
}

#[test]
fn shapes_of_every_layout() {
    for (_, device) in cpu_devices() {
        let lstm = LstmConfig::new(3, 5)
            .with_num_layers(2)
            .with_bidirectional(true)
            .with_proj_size(2)
            .init(&device);
        let (output, state) = lstm.forward(random([4, 7, 3], &device), None);
        assert_eq!(output.dims(), [4, 7, 4]);
        assert_eq!(state.hidden.dims(), [4, 4, 2]);
        assert_eq!(state.cell.dims(), [4, 4, 5]);

        let seq_first = LstmConfig::new(3, 5).with_batch_first(false).init(&device);
        let (output, state) = seq_first.forward(random([7, 4, 3], &device), None);
        assert_eq!(output.dims(), [7, 4, 5]);
        assert_eq!(state.hidden.dims(), [1, 4, 5]);

        let bilstm = BiLstmConfig::new(3, 6).init(&device);
        let (output, _) = bilstm.forward(random([2, 5, 3], &device), None);
        assert_eq!(output.dims(), [2, 5, 12]);
    }
}

#[test]
fn wrong_input_feature_size_names_both_sizes() {
    let device = Device::flex();
    let lstm = LstmConfig::new(3, 4).init(&device);
    let message = error_text(lstm.try_forward(random([2, 5, 7], &device), None));
    assert!(
        message.contains("input")
            && message.contains("[batch, seq, 3]")
            && message.contains("[2, 5, 7]"),
        "{message}"
    );
    let cell = LstmCellConfig::new(3, 4).init(&device);
    let message = error_text(cell.try_forward(Tensor::zeros([2, 6], &device), None));
    assert!(
        message.contains("[batch, 3]") && message.contains("[2, 6]"),
        "{message}"
    );
}

#[test]
fn forward_panics_with_the_same_sentence() {
    let device = Device::flex();
    let lstm = LstmConfig::new(3, 4).init(&device);
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lstm.forward(random([2, 5, 7], &device), None)
    }))
    .expect_err("a wrong feature size must panic");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("expected shape [batch, seq, 3], got [2, 5, 7]"),
        "{message}"
    );
}

#[test]
fn wrong_initial_state_shape_names_both_shapes() {
    let device = Device::flex();
    let lstm = LstmConfig::new(3, 4).with_num_layers(2).init(&device);
    let good = || Tensor::<3>::zeros([2, 2, 4], &device);
    let bad = Tensor::<3>::zeros([1, 2, 4], &device);
    let message = error_text(lstm.try_forward(
        random([2, 5, 3], &device),
        Some(LstmState::from_hidden_cell(bad, good())),
    ));
    assert!(
        message.contains("initial hidden state")
            && message.contains("[2, 2, 4]")
            && message.contains("[1, 2, 4]"),
        "{message}"
    );
    let bad_cell = Tensor::<3>::zeros([2, 3, 4], &device);
    let message = error_text(lstm.try_forward(
        random([2, 5, 3], &device),
        Some(LstmState::from_hidden_cell(good(), bad_cell)),
    ));
    assert!(
        message.contains("initial cell state") && message.contains("[2, 3, 4]"),
        "{message}"
    );
}

#[test]
fn bad_lengths_are_refused_with_a_reason() {
    let device = Device::flex();
    let lstm = LstmConfig::new(3, 4).init(&device);
    let input = || random([2, 5, 3], &device);
    for (lengths, expected) in [
        (vec![], "one length per batch row (2), got 0"),
        (vec![5], "one length per batch row (2), got 1"),
        (vec![5, 0], "row 1 has length 0"),
        (
            vec![6, 2],
            "row 0 has length 6; every length must be in 1..=5",
        ),
    ] {
        let message = error_text(lstm.try_forward_padded(input(), &lengths, None));
        assert!(message.contains(expected), "{lengths:?}: {message}");
    }
}

#[test]
fn invalid_configurations_are_refused() {
    let device = Device::flex();
    for (config, expected) in [
        (
            LstmConfig::new(3, 4).with_proj_size(4),
            "proj_size (4) must be smaller than hidden_size (4)",
        ),
        (LstmConfig::new(3, 0), "must be at least 1"),
        (
            LstmConfig::new(3, 4).with_num_layers(0),
            "num_layers must be at least 1",
        ),
        (
            LstmConfig::new(3, 4).with_dropout(1.0),
            "dropout must be in [0, 1)",
        ),
        (
            LstmConfig::new(3, 4).with_dropout(0.2),
            "dropout (0.2) acts between stacked layers and a one-layer LSTM has none",
        ),
    ] {
        let message = error_text(config.try_init(&device));
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn padded_rows_equal_unpadded_runs() {
    // Each row of a padded batch computes what the row alone, cut to its length, computes.
    for (_, device) in cpu_devices() {
        let lstm = LstmConfig::new(3, 4).with_bidirectional(true).init(&device);
        let input = random([3, 6, 3], &device);
        let lengths = [2, 6, 4];
        let (output, state) = lstm.forward_padded(input.clone(), &lengths, None);
        for (row, &len) in lengths.iter().enumerate() {
            let alone = input.clone().slice(s![row..row + 1, 0..len]);
            let (expected, expected_state) = lstm.forward(alone, None);
            let got = output.clone().slice(s![row..row + 1, 0..len]);
            assert!(max_abs_diff("output", got.into_data(), &expected.into_data()) < 1e-6);
            let padding = output.clone().slice(s![row..row + 1, len..6]);
            if len < 6 {
                assert_eq!(
                    padding.abs().max().into_scalar::<f32>(),
                    0.0,
                    "padding outputs zero"
                );
            }
            let got_h = state.hidden.clone().slice(s![.., row..row + 1]);
            assert!(
                max_abs_diff("h_n", got_h.into_data(), &expected_state.hidden.into_data()) < 1e-6
            );
        }
    }
}

#[test]
fn cell_step_matches_one_step_of_the_layer() {
    let device = Device::flex();
    let lstm = LstmConfig::new(3, 4).init(&device);
    let cell = &lstm.layers[0].forward_cell;
    let input = random([2, 1, 3], &device);
    let (output, _) = lstm.forward(input.clone(), None);
    let state = cell.forward(input.reshape([2, 3]), None);
    assert!(
        max_abs_diff(
            "h",
            state.hidden.into_data(),
            &output.reshape([2, 4]).into_data()
        ) < 1e-6
    );
}

#[test]
fn pytorch_initialisation_is_bounded_by_one_over_sqrt_h() {
    let device = Device::flex();
    let lstm = LstmConfig::new(3, 16).with_num_layers(2).init(&device);
    let bound = 1.0 / 4.0;
    for (name, data) in lstm.pytorch_parameters() {
        let max = data.iter::<f64>().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(max <= bound && max > 0.8 * bound, "{name}: max |w| = {max}");
    }
}

#[test]
fn keras_initialisation_has_unit_forget_bias_and_orthogonal_recurrence() {
    let device = Device::flex();
    let h = 6;
    let cell = LstmCellConfig::new(3, h)
        .with_init(LstmInit::keras())
        .init(&device);
    let forget = cell.forget_gate.input_bias.as_ref().unwrap().val();
    assert_eq!(forget.clone().min().into_scalar::<f32>(), 1.0);
    assert_eq!(forget.max().into_scalar::<f32>(), 1.0);
    let input = cell.input_gate.input_bias.as_ref().unwrap().val();
    assert_eq!(input.abs().max().into_scalar::<f32>(), 0.0);
    let recurrent_forget = cell.forget_gate.recurrent_bias.as_ref().unwrap().val();
    assert_eq!(recurrent_forget.abs().max().into_scalar::<f32>(), 0.0);
    // The joint recurrent kernel [H, 4H] has orthonormal rows.
    let joint = Tensor::cat(
        cell.gates()
            .iter()
            .map(|g| g.recurrent_weight.val())
            .collect(),
        1,
    );
    let gram = joint.clone().matmul(joint.transpose());
    let identity = Tensor::<2>::eye(h, &device);
    assert!(max_abs_diff("W Wᵀ", gram.into_data(), &identity.into_data()) < 1e-5);
}

#[test]
fn a_frozen_gate_stays_as_it_was() {
    let device = Device::flex().autodiff();
    let mut lstm = LstmConfig::new(3, 4).init(&device);
    lstm.layers[0].forward_cell.forget_gate =
        lstm.layers[0].forward_cell.forget_gate.clone().no_grad();
    let before = lstm.layers[0].forward_cell.clone();
    let loss = lstm.forward(random([2, 5, 3], &device), None).0.sum();
    let grads = GradientsParams::from_grads(loss.backward(), &lstm);
    let lstm = SgdConfig::new().init().step(0.5, lstm, grads);
    let after = &lstm.layers[0].forward_cell;
    let same = |a: Tensor<2>, b: Tensor<2>| max_abs_diff("gate", a.into_data(), &b.into_data());
    assert_eq!(
        same(
            after.forget_gate.input_weight.val(),
            before.forget_gate.input_weight.val()
        ),
        0.0
    );
    assert_eq!(
        same(
            after.forget_gate.recurrent_weight.val(),
            before.forget_gate.recurrent_weight.val()
        ),
        0.0
    );
    assert!(
        same(
            after.input_gate.input_weight.val(),
            before.input_gate.input_weight.val()
        ) > 0.0
    );
}

#[test]
fn pytorch_names_round_trip_exactly() {
    let device = Device::flex();
    let config = LstmConfig::new(3, 5)
        .with_num_layers(2)
        .with_bidirectional(true)
        .with_proj_size(2);
    let source = config.init(&device);
    let exported = source.pytorch_parameters();
    let names: Vec<&str> = exported.keys().map(String::as_str).collect();
    assert!(names.contains(&"weight_hr_l1_reverse") && names.contains(&"bias_hh_l0"));
    assert_eq!(names.len(), 2 * 2 * 5);
    let imported = config
        .init(&device)
        .load_pytorch_parameters(exported.clone(), &device)
        .unwrap();
    for (name, data) in imported.pytorch_parameters() {
        assert_eq!(data, exported[&name], "{name} changed in the round trip");
    }
}

#[test]
fn pytorch_loading_names_the_offending_key() {
    let device = Device::flex();
    let config = LstmConfig::new(3, 5);
    let params = config.init(&device).pytorch_parameters();

    let mut missing = params.clone();
    missing.remove("bias_hh_l0");
    let message = error_text(
        config
            .init(&device)
            .load_pytorch_parameters(missing, &device),
    );
    assert!(
        message.contains("missing parameter `bias_hh_l0`"),
        "{message}"
    );

    let mut extra = params.clone();
    extra.insert("weight_ih_l1".into(), params["weight_ih_l0"].clone());
    let message = error_text(config.init(&device).load_pytorch_parameters(extra, &device));
    assert!(
        message.contains("unexpected parameter `weight_ih_l1`"),
        "{message}"
    );

    let mut wrong = params;
    wrong.insert("weight_hh_l0".into(), TensorData::zeros::<f32, _>([20, 4]));
    let message = error_text(config.init(&device).load_pytorch_parameters(wrong, &device));
    assert!(
        message.contains("`weight_hh_l0`")
            && message.contains("[20, 5]")
            && message.contains("[20, 4]"),
        "{message}"
    );
}

/// `println!("{lstm}")` shows the layer's sizes and options, as burn's own modules do, not the
/// tree of its gates' parameters.
#[test]
fn display_shows_sizes_and_options_not_the_gate_tree() {
    let device = Device::flex();
    let lstm = LstmConfig::new(3, 4)
        .with_num_layers(2)
        .with_bidirectional(true)
        .with_dropout(0.25)
        .init(&device);
    let shown = format!("{lstm}");
    for part in [
        "input_size: 3",
        "hidden_size: 4",
        "num_layers: 2",
        "bidirectional: true",
        "dropout: 0.25",
    ] {
        assert!(shown.contains(part), "{part} missing from {shown}");
    }
    assert!(
        !shown.contains("input_gate"),
        "the gate tree is shown: {shown}"
    );
}

/// The state helpers pick a layer's rows (`[layers · directions, batch, ·]`, layer-major) and
/// the last layer's final hidden state with its directions side by side.
#[test]
fn state_helpers_pick_a_layers_rows_and_the_last_output() {
    let device = Device::flex();
    let lstm = LstmConfig::new(3, 4)
        .with_num_layers(2)
        .with_bidirectional(true)
        .init(&device);
    let (_, state) = lstm.forward(random([5, 6, 3], &device), None);
    let layer = lstm.layer_state(&state, 1);
    assert_eq!(layer.hidden.dims(), [2, 5, 4]);
    let expected = state.hidden.clone().slice(s![2..4]);
    assert_eq!(
        max_abs_diff(
            "layer 1 hidden",
            layer.hidden.clone().into_data(),
            &expected.into_data()
        ),
        0.0
    );
    let expected_cell = state.cell.clone().slice(s![2..4]);
    assert_eq!(
        max_abs_diff(
            "layer 1 cell",
            layer.cell.into_data(),
            &expected_cell.into_data()
        ),
        0.0
    );
    let output = lstm.final_output(&state);
    assert_eq!(output.dims(), [5, 8]);
    // Row b: the forward direction's hidden (layer row 2), then the reverse one's (row 3).
    let forward = state.hidden.clone().slice(s![2..3]).reshape([5, 4]);
    let reverse = state.hidden.slice(s![3..4]).reshape([5, 4]);
    let expected = Tensor::cat(vec![forward, reverse], 1);
    assert_eq!(
        max_abs_diff("final output", output.into_data(), &expected.into_data()),
        0.0
    );
}
