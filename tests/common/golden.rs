//! Reading PyTorch golden vectors (see `tests/data/golden/README.md`) and checking a backend
//! against them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::DType;
use burn_lstm::{Lstm, LstmCellConfig, LstmConfig, LstmState, NamedTensors, Recurrence};
use serde_json::Value;

use super::max_abs_diff;

/// The golden directory: `BURN_LSTM_GOLDEN_DIR`, else the crate's `tests/data/golden`.
pub fn golden_dir() -> PathBuf {
    super::data::data_dir("BURN_LSTM_GOLDEN_DIR", "golden")
}

/// Every `*.json` case in the golden directory, sorted by name. Panics when there is none.
pub fn golden_files() -> Vec<PathBuf> {
    let dir = golden_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("cannot read golden directory {}: {err}", dir.display()))
        .map(|entry| entry.expect("golden directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no golden *.json file in {}",
        dir.display()
    );
    files
}

/// A nested JSON list as tensor data of `dtype`.
pub fn data_from_json(value: &Value, dtype: DType) -> TensorData {
    fn walk(value: &Value, depth: usize, shape: &mut Vec<usize>, values: &mut Vec<f64>) {
        match value {
            Value::Array(items) => {
                if shape.len() == depth {
                    shape.push(items.len());
                } else {
                    assert_eq!(
                        shape[depth],
                        items.len(),
                        "ragged nested list in golden file"
                    );
                }
                items
                    .iter()
                    .for_each(|item| walk(item, depth + 1, shape, values));
            }
            Value::Number(number) => values.push(number.as_f64().expect("a finite number")),
            other => panic!("expected a number or a list in golden file, got {other}"),
        }
    }
    let (mut shape, mut values) = (Vec::new(), Vec::new());
    walk(value, 0, &mut shape, &mut values);
    TensorData::new(values, shape).convert_dtype(dtype)
}

/// One golden case, read from its file.
pub struct GoldenCase {
    pub name: String,
    pub json: Value,
    pub dtype: DType,
}

impl GoldenCase {
    pub fn load(path: &Path) -> Self {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("{} is not JSON: {err}", path.display()));
        let dtype = match json["config"]["dtype"].as_str() {
            Some("float64") => DType::F64,
            Some("float32") => DType::F32,
            other => panic!("{}: unsupported dtype {other:?}", path.display()),
        };
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        Self { name, json, dtype }
    }

    fn config(&self, key: &str) -> &Value {
        &self.json["config"][key]
    }

    fn size(&self, key: &str) -> usize {
        self.config(key)
            .as_u64()
            .unwrap_or_else(|| panic!("{}: config.{key} is not a size", self.name)) as usize
    }

    fn data(&self, value: &Value) -> TensorData {
        data_from_json(value, self.dtype)
    }

    /// A tensor from the file (or zeros of the file's stated shape where the value is `null`),
    /// tracked for gradients.
    fn leaf<const D: usize>(&self, key: &str, device: &Device) -> Tensor<D> {
        self.tensor(key, device).require_grad()
    }

    /// [`GoldenCase::leaf`] untracked.
    fn tensor<const D: usize>(&self, key: &str, device: &Device) -> Tensor<D> {
        let data = match &self.json[key] {
            Value::Null => {
                let shape: Vec<usize> = self.json["shapes"][key]
                    .as_array()
                    .unwrap_or_else(|| panic!("{}: no shapes.{key}", self.name))
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize)
                    .collect();
                TensorData::zeros::<f64, _>(shape).convert_dtype(self.dtype)
            }
            value => self.data(value),
        };
        Tensor::from_data(data, (device, self.dtype))
    }

    fn weights<const D: usize>(&self, value: &Value, device: &Device) -> Tensor<D> {
        Tensor::from_data(self.data(value), (device, self.dtype))
    }

    /// The case's LSTM on `device`, computing the `recurrence` way.
    fn lstm(&self, device: &Device, recurrence: Recurrence) -> Lstm {
        let config = &self.json["config"];
        LstmConfig::new(self.size("input_size"), self.size("hidden_size"))
            .with_num_layers(self.size("num_layers"))
            .with_bidirectional(config["bidirectional"].as_bool().unwrap())
            .with_proj_size(self.size("proj_size"))
            .with_batch_first(config["batch_first"].as_bool().unwrap())
            .with_bias(config["bias"].as_bool().unwrap())
            .with_recurrence(recurrence)
            .init(device)
            .load_pytorch_parameters(self.params(), device)
            .unwrap_or_else(|err| panic!("{}: {err}", self.name))
    }

    /// `lstm`'s output and final state from `input` and the initial state, its rows as long as
    /// the case's lengths say.
    fn run_lstm(
        &self,
        lstm: &Lstm,
        input: Tensor<3>,
        (h0, c0): (Tensor<3>, Tensor<3>),
    ) -> (Tensor<3>, LstmState) {
        let state = Some(LstmState::from_hidden_cell(h0, c0));
        match self.json["config"]["lengths"].as_array() {
            Some(lengths) => {
                let lengths: Vec<usize> = lengths
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize)
                    .collect();
                lstm.forward_padded(input, &lengths, state)
            }
            None => lstm.forward(input, state),
        }
    }

    fn params(&self) -> NamedTensors {
        self.json["params"]
            .as_object()
            .expect("params")
            .iter()
            .map(|(name, value)| (name.clone(), self.data(value)))
            .collect()
    }

    /// Is it the f32 twin of a case?
    pub fn is_f32(&self) -> bool {
        self.dtype == DType::F32
    }
}

/// The largest error of each quantity of one case.
#[derive(Debug, Default)]
pub struct CaseErrors {
    /// Output, h_n and c_n.
    pub forward: f64,
    /// Every gradient of both losses.
    pub gradients: f64,
    /// Where the largest gradient error was.
    pub worst_gradient: String,
}

/// What the two losses send back: d loss / d (input, h0, c0, params).
struct Backward {
    input: TensorData,
    h0: TensorData,
    c0: TensorData,
    params: NamedTensors,
}

/// Runs one case on `device` (an autodiff device is made from it), the LSTM computing the
/// `recurrence` way, and measures the errors.
pub fn check_case(case: &GoldenCase, device: &Device, recurrence: Recurrence) -> CaseErrors {
    let plain = device.clone();
    let device = device.clone().autodiff();
    let json = &case.json;
    let mut errors = CaseErrors::default();
    let mut forward = |what: &str, actual: TensorData, key: &str| {
        let error = max_abs_diff(
            &format!("{} {what}", case.name),
            actual,
            &case.data(&json[key]),
        );
        errors.forward = errors.forward.max(error);
    };
    let is_cell = json["config"]["kind"] == "LSTMCell";

    // Both losses are built from one forward pass each, so the graphs are independent.
    let run = |with_state_loss: bool| -> (TensorData, TensorData, TensorData, Backward) {
        if is_cell {
            let cell = LstmCellConfig::new(case.size("input_size"), case.size("hidden_size"))
                .init(&device)
                .load_pytorch_parameters(case.params(), &device)
                .unwrap_or_else(|err| panic!("{}: {err}", case.name));
            let input = case.leaf::<2>("input", &device);
            let (h0, c0) = (case.leaf::<2>("h0", &device), case.leaf::<2>("c0", &device));
            let state = cell.forward(
                input.clone(),
                Some(LstmState::from_hidden_cell(h0.clone(), c0.clone())),
            );
            let weights = case.weights::<2>(&json["loss_weights"], &device);
            let mut loss = (state.hidden.clone() * weights).sum();
            if with_state_loss {
                let cell_weights = case.weights::<2>(&json["loss2"]["weights_c_n"], &device);
                loss = loss + (state.cell.clone() * cell_weights).sum();
            }
            let grads = loss.backward();
            let backward = Backward {
                input: input.grad(&grads).expect("input gradient").into_data(),
                h0: h0.grad(&grads).expect("h0 gradient").into_data(),
                c0: c0.grad(&grads).expect("c0 gradient").into_data(),
                params: cell.pytorch_gradients(&grads),
            };
            let hidden = state.hidden.into_data();
            (hidden.clone(), hidden, state.cell.into_data(), backward)
        } else {
            let lstm = case.lstm(&device, recurrence);
            let input = case.leaf::<3>("input", &device);
            let (h0, c0) = (case.leaf::<3>("h0", &device), case.leaf::<3>("c0", &device));
            let (output, final_state) =
                case.run_lstm(&lstm, input.clone(), (h0.clone(), c0.clone()));
            let output_weights = case.weights::<3>(&json["loss_weights"], &device);
            let mut loss = (output.clone() * output_weights).sum();
            if with_state_loss {
                let hidden_weights = case.weights::<3>(&json["loss2"]["weights_h_n"], &device);
                let cell_weights = case.weights::<3>(&json["loss2"]["weights_c_n"], &device);
                loss = loss
                    + (final_state.hidden.clone() * hidden_weights).sum()
                    + (final_state.cell.clone() * cell_weights).sum();
            }
            let grads = loss.backward();
            let backward = Backward {
                input: input.grad(&grads).expect("input gradient").into_data(),
                h0: h0.grad(&grads).expect("h0 gradient").into_data(),
                c0: c0.grad(&grads).expect("c0 gradient").into_data(),
                params: lstm.pytorch_gradients(&grads),
            };
            (
                output.into_data(),
                final_state.hidden.into_data(),
                final_state.cell.into_data(),
                backward,
            )
        }
    };

    let (output, h_n, c_n, first) = run(false);
    forward("output", output, "output");
    forward("h_n", h_n, "h_n");
    forward("c_n", c_n, "c_n");

    // Inference (no autodiff) runs its own ways (the column team among them): the same
    // forward results.
    if !is_cell {
        let inner = plain;
        let lstm = case.lstm(&inner, recurrence);
        let (input, h0, c0) = (
            case.tensor::<3>("input", &inner),
            case.tensor::<3>("h0", &inner),
            case.tensor::<3>("c0", &inner),
        );
        let (output, state) = case.run_lstm(&lstm, input, (h0, c0));
        forward("inference output", output.into_data(), "output");
        forward("inference h_n", state.hidden.into_data(), "h_n");
        forward("inference c_n", state.cell.into_data(), "c_n");
    }

    let (_, _, _, second) = run(true);
    for (loss, backward, expected) in [
        ("loss", first, &json["grads"]),
        ("loss2", second, &json["loss2"]["grads"]),
    ] {
        let mut check = |what: String, actual: TensorData, expected: &Value| {
            let error = max_abs_diff(
                &format!("{} {what}", case.name),
                actual,
                &case.data(expected),
            );
            if error >= errors.gradients {
                errors.gradients = error;
                errors.worst_gradient = what;
            }
        };
        check(
            format!("{loss} d/d input"),
            backward.input,
            &expected["input"],
        );
        check(format!("{loss} d/d h0"), backward.h0, &expected["h0"]);
        check(format!("{loss} d/d c0"), backward.c0, &expected["c0"]);
        let expected_params = expected["params"].as_object().expect("grads.params");
        let names: BTreeMap<_, _> = expected_params.iter().collect();
        assert_eq!(
            backward.params.keys().collect::<Vec<_>>(),
            names.keys().copied().collect::<Vec<_>>(),
            "{}: parameter gradient names differ",
            case.name
        );
        for (name, actual) in backward.params {
            check(format!("{loss} d/d {name}"), actual, names[&name]);
        }
    }
    errors
}
