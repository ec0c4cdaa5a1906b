//! Finite-difference check of burn's autodiff through our LSTM, on random configurations in
//! f64: every sampled entry of the input, the initial state and every parameter must satisfy
//! |fd − grad| ≤ 1e-6 · max(1, |grad|), with central differences of step 1e-6.

use burn::prelude::*;
use burn::tensor::DType;
use burn_lstm::{LstmConfig, LstmState, NamedTensors};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const STEP: f64 = 1e-6;
const TOLERANCE: f64 = 1e-6;

struct Case {
    config: LstmConfig,
    batch: usize,
    seq: usize,
    lengths: Option<Vec<usize>>,
}

fn random_case(rng: &mut StdRng) -> Case {
    let bidirectional = rng.random_bool(0.5);
    let hidden = rng.random_range(2..6);
    let proj = if rng.random_bool(0.3) {
        rng.random_range(1..hidden)
    } else {
        0
    };
    let config = LstmConfig::new(rng.random_range(1..5), hidden)
        .with_num_layers(rng.random_range(1..3))
        .with_bidirectional(bidirectional)
        .with_proj_size(proj)
        .with_batch_first(rng.random_bool(0.5));
    let (batch, seq) = (rng.random_range(1..4), rng.random_range(1..6));
    let lengths = rng
        .random_bool(0.4)
        .then(|| (0..batch).map(|_| rng.random_range(1..=seq)).collect());
    Case {
        config,
        batch,
        seq,
        lengths,
    }
}

fn random_data(rng: &mut StdRng, shape: Vec<usize>) -> TensorData {
    let count = shape.iter().product();
    TensorData::new(
        (0..count)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect::<Vec<f64>>(),
        shape,
    )
}

/// Everything the loss depends on, as plain f64 data.
#[derive(Clone)]
struct Point {
    params: NamedTensors,
    input: TensorData,
    h0: TensorData,
    c0: TensorData,
}

struct Weights {
    output: TensorData,
    hidden: TensorData,
    cell: TensorData,
}

/// loss = Σ output·R + Σ h_n·Rh + Σ c_n·Rc, and its gradients when `device` is autodiff.
fn loss(
    case: &Case,
    point: &Point,
    weights: &Weights,
    device: &Device,
) -> (f64, Option<(Point, NamedTensors)>) {
    let f64_tensor = |data: &TensorData| Tensor::<3>::from_data(data.clone(), (device, DType::F64));
    let lstm = case
        .config
        .init(device)
        .load_pytorch_parameters(point.params.clone(), device)
        .unwrap();
    let tracked = device.is_autodiff();
    let leaf = |data: &TensorData| {
        if tracked {
            f64_tensor(data).require_grad()
        } else {
            f64_tensor(data)
        }
    };
    let (input, h0, c0) = (leaf(&point.input), leaf(&point.h0), leaf(&point.c0));
    let state = Some(LstmState::from_hidden_cell(h0.clone(), c0.clone()));
    let (output, last) = match &case.lengths {
        Some(lengths) => lstm.forward_padded(input.clone(), lengths, state),
        None => lstm.forward(input.clone(), state),
    };
    let loss = (output * f64_tensor(&weights.output)).sum()
        + (last.hidden * f64_tensor(&weights.hidden)).sum()
        + (last.cell * f64_tensor(&weights.cell)).sum();
    let value: f64 = loss.clone().into_scalar();
    if !tracked {
        return (value, None);
    }
    let grads = loss.backward();
    let grad = |t: &Tensor<3>| t.grad(&grads).expect("gradient").into_data();
    let gradients = Point {
        params: NamedTensors::new(),
        input: grad(&input),
        h0: grad(&h0),
        c0: grad(&c0),
    };
    (value, Some((gradients, lstm.pytorch_gradients(&grads))))
}

fn perturbed(data: &TensorData, index: usize, delta: f64) -> TensorData {
    let mut values: Vec<f64> = data.iter::<f64>().collect();
    values[index] += delta;
    TensorData::new(values, data.shape().clone())
}

#[test]
fn gradients_match_finite_differences() {
    let device = Device::flex();
    let mut rng = StdRng::seed_from_u64(2026);
    let mut checked = 0;
    for case_index in 0..8 {
        let case = random_case(&mut rng);
        let lstm = case.config.init(&device);
        let (batch, seq) = (case.batch, case.seq);
        let rows = lstm.num_layers() * lstm.num_directions();
        let input_shape = match case.config.batch_first {
            true => vec![batch, seq, lstm.input_size()],
            false => vec![seq, batch, lstm.input_size()],
        };
        let output_shape = match case.config.batch_first {
            true => vec![batch, seq, lstm.output_size()],
            false => vec![seq, batch, lstm.output_size()],
        };
        let params = lstm
            .pytorch_parameters()
            .into_iter()
            .map(|(name, data)| (name, random_data(&mut rng, data.shape().to_vec())))
            .collect();
        let point = Point {
            params,
            input: random_data(&mut rng, input_shape),
            h0: random_data(&mut rng, vec![rows, batch, lstm.hidden_out()]),
            c0: random_data(&mut rng, vec![rows, batch, lstm.hidden_size()]),
        };
        let weights = Weights {
            output: random_data(&mut rng, output_shape),
            hidden: random_data(&mut rng, vec![rows, batch, lstm.hidden_out()]),
            cell: random_data(&mut rng, vec![rows, batch, lstm.hidden_size()]),
        };
        let (_, grads) = loss(&case, &point, &weights, &device.clone().autodiff());
        let (grads, param_grads) = grads.unwrap();

        let mut check = |what: String,
                         analytic: &TensorData,
                         with: &dyn Fn(usize, f64) -> Point,
                         rng: &mut StdRng| {
            let values: Vec<f64> = analytic.iter::<f64>().collect();
            for _ in 0..3 {
                let index = rng.random_range(0..values.len());
                let plus = loss(&case, &with(index, STEP), &weights, &device).0;
                let minus = loss(&case, &with(index, -STEP), &weights, &device).0;
                let numeric = (plus - minus) / (2.0 * STEP);
                let exact = values[index];
                assert!(
                    (numeric - exact).abs() <= TOLERANCE * exact.abs().max(1.0),
                    "case {case_index} ({:?}, lengths {:?}): {what}[{index}]: finite difference {numeric}, autodiff {exact}",
                    case.config,
                    case.lengths
                );
                checked += 1;
            }
        };
        check(
            "input".into(),
            &grads.input,
            &|i, d| Point {
                input: perturbed(&point.input, i, d),
                ..point.clone()
            },
            &mut rng,
        );
        check(
            "h0".into(),
            &grads.h0,
            &|i, d| Point {
                h0: perturbed(&point.h0, i, d),
                ..point.clone()
            },
            &mut rng,
        );
        check(
            "c0".into(),
            &grads.c0,
            &|i, d| Point {
                c0: perturbed(&point.c0, i, d),
                ..point.clone()
            },
            &mut rng,
        );
        for (name, analytic) in &param_grads {
            let with = |i: usize, d: f64| {
                let mut moved = point.clone();
                moved
                    .params
                    .insert(name.clone(), perturbed(&point.params[name], i, d));
                moved
            };
            check(name.clone(), analytic, &with, &mut rng);
        }
    }
    assert!(checked > 100, "only {checked} entries were checked");
}
