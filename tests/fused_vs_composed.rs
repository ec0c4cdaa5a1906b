//! The fused CPU kernels compute what the composed burn operations compute: random
//! configurations — every option of the layer, awkward sizes — agree between the two paths
//! (outputs, final states and every gradient) to rounding, and so does the fused output loss of
//! the language model. (Every golden case runs on both paths in `tests/golden.rs`.)

mod common;

use burn::prelude::*;
use burn::tensor::{DType, Distribution, Int};
use burn_lstm::testing::fused_layer_calls;
use burn_lstm::{LstmConfig, LstmState, Recurrence};
use burn_lstm_programs::language::LanguageModelConfig;
use common::{cpu_devices, max_abs_diff};

/// The tests of this file count fused calls: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One random configuration: the layer's options and the call's.
#[derive(Clone, Debug)]
struct Case {
    input_size: usize,
    hidden_size: usize,
    layers: usize,
    bidirectional: bool,
    proj_size: usize,
    bias: bool,
    batch_first: bool,
    batch: usize,
    seq: usize,
    /// Per-row lengths of a padded batch.
    lengths: Option<Vec<usize>>,
    initial_state: bool,
    /// Dropout between layers and on the recurrent state (a training forward pass).
    dropout: f64,
    recurrent_dropout: f64,
}

impl Case {
    fn plain(input_size: usize, hidden_size: usize, batch: usize, seq: usize) -> Self {
        Self {
            input_size,
            hidden_size,
            layers: 1,
            bidirectional: false,
            proj_size: 0,
            bias: true,
            batch_first: true,
            batch,
            seq,
            lengths: None,
            initial_state: false,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        }
    }

    fn config(&self) -> LstmConfig {
        LstmConfig::new(self.input_size, self.hidden_size)
            .with_num_layers(self.layers)
            .with_bidirectional(self.bidirectional)
            .with_proj_size(self.proj_size)
            .with_bias(self.bias)
            .with_batch_first(self.batch_first)
            .with_dropout(self.dropout)
            .with_recurrent_dropout(self.recurrent_dropout)
    }

    fn directions(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }

    fn hidden_out(&self) -> usize {
        if self.proj_size > 0 {
            self.proj_size
        } else {
            self.hidden_size
        }
    }

    fn layout(&self, features: usize) -> [usize; 3] {
        match self.batch_first {
            true => [self.batch, self.seq, features],
            false => [self.seq, self.batch, features],
        }
    }
}

/// Random f64 data of `shape`, drawn on the CPU.
fn random(shape: &[usize]) -> TensorData {
    let values = Tensor::<1>::random(
        [shape.iter().product::<usize>()],
        Distribution::Uniform(-1.0, 1.0),
        &Device::flex(),
    )
    .into_data()
    .convert_dtype(DType::F64);
    TensorData::new(values.iter::<f64>().collect::<Vec<_>>(), shape.to_vec())
}

/// The case's fixed data: parameters, input, initial state, output weights.
struct CaseData {
    params: burn_lstm::NamedTensors,
    input: TensorData,
    hidden: TensorData,
    cell: TensorData,
    output_weights: TensorData,
}

impl CaseData {
    fn new(case: &Case) -> Self {
        let rows = case.layers * case.directions();
        Self {
            params: case
                .config()
                .init(&Device::flex())
                .pytorch_parameters()
                .into_iter()
                .map(|(k, v)| (k, v.convert_dtype(DType::F64)))
                .collect(),
            input: random(&case.layout(case.input_size)),
            hidden: random(&[rows, case.batch, case.hidden_out()]),
            cell: random(&[rows, case.batch, case.hidden_size]),
            output_weights: random(&case.layout(case.directions() * case.hidden_out())),
        }
    }
}

/// Output, h_n, c_n and every gradient of `sum(out·R) + sum(h_n²) + sum(c_n)`, computed the
/// `recurrence` way on `device` in f64.
fn lstm_run(
    case: &Case,
    data: &CaseData,
    device: &Device,
    recurrence: Recurrence,
) -> Vec<(String, TensorData)> {
    lstm_run_in(case, data, device, recurrence, DType::F64)
}

/// [`lstm_run`] in `dtype`.
fn lstm_run_in(
    case: &Case,
    data: &CaseData,
    device: &Device,
    recurrence: Recurrence,
    dtype: DType,
) -> Vec<(String, TensorData)> {
    let device = device.clone().autodiff();
    device.seed(7);
    let params = data
        .params
        .iter()
        .map(|(name, values)| (name.clone(), values.clone().convert_dtype(dtype)))
        .collect();
    let lstm = case
        .config()
        .with_recurrence(recurrence)
        .init(&device)
        .load_pytorch_parameters(params, &device)
        .unwrap();
    let leaf = |values: &TensorData| {
        Tensor::<3>::from_data(values.clone().convert_dtype(dtype), (&device, dtype)).require_grad()
    };
    let input = leaf(&data.input);
    let (hidden, cell) = (leaf(&data.hidden), leaf(&data.cell));
    let state = case
        .initial_state
        .then(|| LstmState::from_hidden_cell(hidden.clone(), cell.clone()));
    // The same seed before each path: the dropout masks are drawn alike.
    device.seed(11);
    let (out, state): (Tensor<3>, LstmState) = match &case.lengths {
        Some(lengths) => lstm.forward_padded(input.clone(), lengths, state),
        None => lstm.forward(input.clone(), state),
    };
    let weights = Tensor::from_data(
        data.output_weights.clone().convert_dtype(dtype),
        (&device, dtype),
    );
    let loss = (out.clone() * weights).sum()
        + (state.hidden.clone() * state.hidden.clone()).sum()
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
    if case.initial_state {
        results.push(("d h0".into(), hidden.grad(&grads).unwrap().into_data()));
        results.push(("d c0".into(), cell.grad(&grads).unwrap().into_data()));
    }
    results.extend(
        lstm.pytorch_gradients(&grads)
            .into_iter()
            .map(|(k, v)| (format!("d {k}"), v)),
    );
    results
}

/// Every option at once on `base`'s sizes (5 rows, at least 6 steps): stacked,
/// bidirectional, projected, no bias, time-major, unsorted lengths, initial state, dropout.
fn every_option(base: Case) -> Case {
    Case {
        layers: 2,
        bidirectional: true,
        proj_size: 2,
        bias: false,
        batch_first: false,
        lengths: Some(vec![3, 1, 6, 5, 2]),
        initial_state: true,
        dropout: 0.25,
        recurrent_dropout: 0.25,
        ..base
    }
}

/// The configurations compared: each option alone, then together, at awkward sizes.
fn cases() -> Vec<Case> {
    let base = Case::plain(3, 7, 5, 6);
    vec![
        base.clone(),
        Case {
            layers: 3,
            batch_first: false,
            ..base.clone()
        },
        Case {
            bidirectional: true,
            layers: 2,
            ..base.clone()
        },
        Case {
            proj_size: 3,
            layers: 2,
            ..base.clone()
        },
        Case {
            bias: false,
            ..base.clone()
        },
        Case {
            initial_state: true,
            bidirectional: true,
            ..base.clone()
        },
        Case {
            lengths: Some(vec![2, 6, 1, 4, 6]),
            bidirectional: true,
            ..base.clone()
        },
        Case {
            recurrent_dropout: 0.3,
            dropout: 0.2,
            layers: 2,
            ..base.clone()
        },
        every_option(base.clone()),
        // Sizes at the edges: one step, one row, one hidden unit; two steps (too few to
        // pack the weights for).
        Case::plain(2, 1, 1, 1),
        Case {
            bidirectional: true,
            proj_size: 2,
            ..Case::plain(3, 5, 2, 2)
        },
        Case {
            bidirectional: true,
            ..Case::plain(1, 4, 3, 1)
        },
        Case {
            lengths: Some(vec![1]),
            ..Case::plain(2, 3, 1, 3)
        },
        // Big enough that the layer runs on a thread team, with per-row blocks and lengths.
        Case {
            bidirectional: true,
            lengths: Some((0..40).map(|row| 1 + (row * 37) % 30).collect()),
            initial_state: true,
            recurrent_dropout: 0.2,
            ..Case::plain(5, 33, 40, 30)
        },
        Case {
            proj_size: 9,
            ..Case::plain(4, 33, 48, 20)
        },
    ]
}

#[test]
fn fused_and_composed_paths_agree_on_every_configuration() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for (backend, device) in cpu_devices() {
        for case in cases() {
            let data = CaseData::new(&case);
            let composed = lstm_run(&case, &data, &device, Recurrence::Composed);
            let calls = fused_layer_calls();
            let fused = lstm_run(&case, &data, &device, Recurrence::Fused);
            assert_eq!(
                fused_layer_calls() - calls,
                case.layers,
                "{backend} {case:?}: the fused path ran one operation per layer"
            );
            assert_eq!(composed.len(), fused.len());
            for ((name, a), (_, b)) in composed.into_iter().zip(&fused) {
                let error = max_abs_diff(&name, a, b);
                assert!(
                    error < 1e-12,
                    "{backend} {case:?}: {name} differs by {error:e}"
                );
            }
        }
    }
}

/// On wgpu (f32, software Vulkan in CI) the CubeCL kernels compute what the composed
/// operations compute, forward and every gradient, at the awkward sizes: 1, 3 and 257 steps,
/// 1, 3 and 65 rows, 1, 50 and 129 hidden units, both directions, unsorted lengths. Both paths
/// sum in f32 in different orders: the tolerance is 1e-4 of the largest value compared (at
/// least 1).
#[cfg(feature = "wgpu")]
#[test]
fn gpu_kernels_and_composed_paths_agree_on_awkward_shapes() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let device = burn_lstm_programs::backend::BackendChoice::Wgpu
        .device()
        .expect("a wgpu adapter");
    let cases = [
        Case::plain(2, 1, 1, 1),
        Case {
            bidirectional: true,
            lengths: Some(vec![2, 3, 1]),
            initial_state: true,
            ..Case::plain(4, 50, 3, 3)
        },
        Case {
            bidirectional: true,
            lengths: Some(vec![200, 257, 13]),
            ..Case::plain(3, 50, 3, 257)
        },
        Case {
            bidirectional: true,
            proj_size: 17,
            batch_first: false,
            initial_state: true,
            recurrent_dropout: 0.2,
            lengths: Some((0..65).map(|row| 1 + (row * 7) % 3).collect()),
            ..Case::plain(5, 129, 65, 3)
        },
        every_option(Case::plain(3, 7, 5, 6)),
    ];
    for case in cases {
        let data = CaseData::new(&case);
        let started = std::time::Instant::now();
        let composed = lstm_run_in(&case, &data, &device, Recurrence::Composed, DType::F32);
        let composed_time = started.elapsed();
        let launches = burn_lstm::testing::recurrence_kernel_launches();
        let started = std::time::Instant::now();
        let kernels = lstm_run_in(&case, &data, &device, Recurrence::Fused, DType::F32);
        println!(
            "T {} N {} H {}: composed {composed_time:.1?}, kernels {:.1?}",
            case.seq,
            case.batch,
            case.hidden_size,
            started.elapsed()
        );
        assert_eq!(
            burn_lstm::testing::recurrence_kernel_launches() - launches,
            2 * case.layers,
            "{case:?}: one forward and one backward launch per layer"
        );
        assert_eq!(composed.len(), kernels.len());
        for ((name, a), (_, b)) in composed.into_iter().zip(&kernels) {
            let scale = a.iter::<f64>().fold(1.0_f64, |m, v| m.max(v.abs()));
            let error = max_abs_diff(&name, a, b);
            assert!(
                error <= 1e-4 * scale,
                "{case:?}: {name} differs by {error:e} (largest value {scale:e})"
            );
        }
    }
}

/// In evaluation (no autodiff) the fused layer gives the training pass's output, and recurrent
/// dropout draws no mask.
#[test]
fn evaluation_matches_training_forward() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let device = Device::flex();
    let case = Case {
        bidirectional: true,
        layers: 2,
        lengths: Some(vec![4, 2, 6]),
        recurrent_dropout: 0.4,
        ..Case::plain(3, 5, 3, 6)
    };
    let data = CaseData::new(&case);
    let lstm = case
        .config()
        .init(&device)
        .load_pytorch_parameters(data.params.clone(), &device)
        .unwrap();
    let input = Tensor::<3>::from_data(data.input.clone(), (&device, DType::F64));
    let lengths = case.lengths.as_deref().unwrap();
    let (first, _) = lstm.forward_padded(input.clone(), lengths, None);
    let (second, _) = lstm.forward_padded(input.clone(), lengths, None);
    assert_eq!(
        first.clone().into_data(),
        second.into_data(),
        "no dropout in evaluation"
    );
    let composed = lstm.clone().with_recurrence(Recurrence::Composed);
    let (reference, _) = composed.forward_padded(input, lengths, None);
    let error = max_abs_diff(
        "evaluation output",
        first.into_data(),
        &reference.into_data(),
    );
    assert!(error < 1e-12, "evaluation differs by {error:e}");
}

/// Loss and gradients of a language model's next-token loss (f32).
fn lm_run(
    config: &LanguageModelConfig,
    device: &Device,
    record: &std::path::Path,
    tokens: &[usize],
    targets: &[usize],
    recurrence: Recurrence,
) -> Vec<(String, TensorData)> {
    let device = device.clone().autodiff();
    let mut model = burn_lstm::files::load_module(config.init(&device), record).unwrap();
    model.lstm = model.lstm.with_recurrence(recurrence);
    let tokens_tensor: Tensor<2, Int> = Tensor::from_data(
        TensorData::new(
            tokens.iter().map(|&t| t as i64).collect::<Vec<_>>(),
            [4, tokens.len() / 4],
        ),
        &device,
    );
    let (loss, _) = model
        .next_token_loss(tokens_tensor, targets, None)
        .expect("targets in the vocabulary");
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
fn fused_output_loss_matches_the_composed_one() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    for tie in [false, true] {
        let config = LanguageModelConfig::new(50, LstmConfig::new(16, 16).with_num_layers(2))
            .with_tie_weights(tie);
        let record = dir.path().join(format!("lm-{tie}.bpk"));
        burn_lstm::files::save_module(&config.init(&device), &record).unwrap();
        let tokens: Vec<usize> = (0..40).map(|i| (i * 7 + 3) % 50).collect();
        let targets: Vec<usize> = (0..40).map(|i| (i * 11 + 5) % 50).collect();
        let composed = lm_run(
            &config,
            &device,
            &record,
            &tokens,
            &targets,
            Recurrence::Composed,
        );
        let fused = lm_run(
            &config,
            &device,
            &record,
            &tokens,
            &targets,
            Recurrence::Fused,
        );
        for ((name, a), (_, b)) in composed.into_iter().zip(&fused) {
            let error = max_abs_diff(&name, a, b);
            assert!(error < 2e-5, "tied {tie}: {name} differs by {error:e}");
        }
    }
}

/// Without autodiff (generation, evaluation) the language model's output layer runs on the
/// host, a one-row product split over the cores by vocabulary blocks: it gives burn's logits,
/// for one row, a few, and enough for gemm's own threading, tied or not, on both CPU backends.
#[test]
fn host_output_logits_match_burns() {
    for (name, device) in cpu_devices() {
        let device = device.without_autodiff();
        for tie in [false, true] {
            // 203 words: vocabulary blocks of unequal width.
            let config =
                LanguageModelConfig::new(203, LstmConfig::new(24, 24)).with_tie_weights(tie);
            let model = config.init(&device);
            let mut composed = model.clone();
            composed.lstm = composed.lstm.with_recurrence(Recurrence::Composed);
            for (batch, seq) in [(1, 1), (1, 3), (4, 10)] {
                let tokens: Vec<i64> = (0..batch * seq).map(|i| (i * 37 % 203) as i64).collect();
                let tokens =
                    Tensor::<2, Int>::from_data(TensorData::new(tokens, [batch, seq]), &device);
                let (host, _) = model.forward(tokens.clone(), None);
                let (burn, _) = composed.forward(tokens, None);
                assert_eq!(host.dims(), [batch, seq, 203]);
                let error = max_abs_diff("logits", burn.into_data(), &host.into_data());
                assert!(
                    error < 1e-5,
                    "{name}, tied {tie}, {batch}×{seq}: logits differ by {error:e}"
                );
            }
        }
    }
}
