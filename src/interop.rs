//! LSTMs trained elsewhere: PyTorch checkpoints (`.pt`/`.pth` state dicts and `.safetensors`,
//! read with burn-store), Keras layers (`.npz` or `.safetensors` exports of `kernel`,
//! `recurrent_kernel`, `bias`), and export of ours in PyTorch's format.
//!
//! ```no_run
//! use burn::prelude::*;
//! use burn_lstm::interop;
//!
//! let device = Device::flex();
//! // An nn.LSTM saved at `encoder.lstm` inside a larger PyTorch model:
//! let lstm = interop::load_pytorch_lstm("model.pt".as_ref(), "encoder.lstm.", &device)?;
//! lstm.save_pytorch_safetensors("back_to_torch.safetensors".as_ref())?;
//! # Ok::<(), burn_lstm::LstmError>(())
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use burn::store::{ModuleStore, PytorchStore, SafetensorsStore};
use burn::tensor::DType;

use crate::error::{LstmError, Result};
use crate::lstm::{BiLstm, Lstm, LstmConfig};
use crate::pytorch::NamedTensors;

/// Every tensor of a PyTorch state dict (`.pt`, `.pth`, `.bin`) or safetensors file, by name.
pub fn read_tensors(path: &Path) -> Result<NamedTensors> {
    if !path.exists() {
        return Err(LstmError::io(
            path,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let read_error = |err: String| LstmError::format(path, err);
    let tensors = match extension.as_str() {
        "safetensors" => SafetensorsStore::from_file(path)
            .get_all_tensors()
            .map_err(|err| read_error(err.to_string()))?
            .clone(),
        "pt" | "pth" | "bin" | "ckpt" => PytorchStore::from_file(path)
            .get_all_tensors()
            .map_err(|err| read_error(err.to_string()))?
            .clone(),
        #[cfg(feature = "npz")]
        "npz" => return read_npz(path),
        #[cfg(not(feature = "npz"))]
        "npz" => {
            return Err(read_error(
                "reading `.npz` archives needs burn-lstm's `npz` feature (or export the arrays \
                 as .safetensors)"
                    .into(),
            ));
        }
        other => {
            return Err(read_error(format!(
                "unknown checkpoint type `.{other}` (expected .pt, .pth, .safetensors or .npz)"
            )));
        }
    };
    tensors
        .into_iter()
        .map(|(name, tensor)| {
            let data = burn::store::bridge::into_data(tensor)
                .map_err(|err| read_error(format!("tensor `{name}`: {err}")))?;
            Ok((name, data))
        })
        .collect()
}

/// The tensors whose names start with `prefix`, with the prefix removed. An empty prefix keeps
/// everything.
pub fn strip_prefix(tensors: NamedTensors, prefix: &str) -> NamedTensors {
    tensors
        .into_iter()
        .filter_map(|(name, data)| {
            name.strip_prefix(prefix)
                .map(|rest| (rest.to_string(), data))
        })
        .collect()
}

/// The `nn.LSTM` configuration that PyTorch parameters (already without prefix) describe:
/// input and hidden size, layers, direction, projection and bias, read off their names and
/// shapes.
pub fn pytorch_lstm_config(tensors: &NamedTensors) -> Result<LstmConfig> {
    let shape = |name: &str| -> Result<Vec<usize>> {
        tensors
            .get(name)
            .map(|data| data.shape().to_vec())
            .ok_or_else(|| LstmError::MissingParameter(name.to_string()))
    };
    let input_weights = shape("weight_ih_l0")?;
    if input_weights.len() != 2 || input_weights[0] % 4 != 0 || input_weights[0] == 0 {
        return Err(LstmError::ParameterLayout {
            name: "weight_ih_l0".into(),
            expected: "a [4·hidden, input] matrix (PyTorch's four gates stacked)".into(),
            actual: input_weights,
        });
    }
    let hidden_size = input_weights[0] / 4;
    let num_layers = (0..)
        .take_while(|layer| tensors.contains_key(&format!("weight_ih_l{layer}")))
        .count();
    let proj_size = match tensors.get("weight_hr_l0") {
        Some(data) => data.shape()[0],
        None => 0,
    };
    Ok(LstmConfig::new(input_weights[1], hidden_size)
        .with_num_layers(num_layers)
        .with_bidirectional(tensors.contains_key("weight_ih_l0_reverse"))
        .with_proj_size(proj_size)
        .with_bias(tensors.contains_key("bias_ih_l0")))
}

/// Loads the `nn.LSTM` stored under `prefix` (e.g. `"encoder.lstm."`, or `""` for a bare
/// LSTM) in a PyTorch checkpoint. The configuration is read off the parameters; the
/// parameters keep the file's dtype. Other tensors in the file (a head, an embedding) are
/// left alone.
///
/// # Errors
/// An unreadable file, no parameters under `prefix`, or parameters that do not form an LSTM
/// (the error names the parameter).
pub fn load_pytorch_lstm(path: &Path, prefix: &str, device: &Device) -> Result<Lstm> {
    let all = read_tensors(path)?;
    let tensors = strip_prefix(all.clone(), prefix);
    if !tensors.keys().any(|name| name.starts_with("weight_ih_l")) {
        return Err(LstmError::format(
            path,
            format!(
                "no LSTM parameters under prefix `{prefix}` (the file has: {})",
                all.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    // Only the LSTM's own names: `weight_*`/`bias_*` directly under the prefix.
    let lstm_tensors: NamedTensors = tensors
        .into_iter()
        .filter(|(name, _)| !name.contains('.'))
        .collect();
    let config = pytorch_lstm_config(&lstm_tensors)?;
    config
        .try_init(device)?
        .load_pytorch_parameters(lstm_tensors, device)
}

/// [`load_pytorch_lstm`] for a bidirectional `nn.LSTM`, as a [`BiLstm`].
pub fn load_pytorch_bilstm(path: &Path, prefix: &str, device: &Device) -> Result<BiLstm> {
    let lstm = load_pytorch_lstm(path, prefix, device)?;
    if lstm.num_directions() != 2 {
        return Err(LstmError::format(
            path,
            "the LSTM is not bidirectional (no `*_reverse` parameters)",
        ));
    }
    Ok(BiLstm { lstm })
}

/// A one-layer LSTM from a Keras `LSTM` layer's weights: `kernel` `[input, 4H]`,
/// `recurrent_kernel` `[H, 4H]`, `bias` `[4H]` (gate order i, f, c, o, as PyTorch's).
///
/// The file is an `.npz` (`numpy.savez`) or `.safetensors` holding those three arrays.
pub fn load_keras_lstm(path: &Path, device: &Device) -> Result<Lstm> {
    let mut arrays = read_tensors(path)?;
    let mut take = |name: &str| {
        arrays
            .remove(name)
            .ok_or_else(|| LstmError::MissingParameter(name.to_string()))
    };
    let kernel = take("kernel")?;
    let recurrent = take("recurrent_kernel")?;
    let bias = take("bias").ok();
    if kernel.shape().len() != 2 || kernel.shape()[1] % 4 != 0 || kernel.shape()[1] == 0 {
        return Err(LstmError::ParameterLayout {
            name: "kernel".into(),
            expected: "an [input, 4·units] matrix (Keras's four gates side by side)".into(),
            actual: kernel.shape().to_vec(),
        });
    }
    let (input_size, hidden_size) = (kernel.shape()[0], kernel.shape()[1] / 4);
    let dtype = kernel.dtype();
    let transposed = |data: TensorData| -> TensorData {
        Tensor::<2>::from_data(data, (device, dtype))
            .transpose()
            .into_data()
    };
    let mut tensors = BTreeMap::new();
    tensors.insert("weight_ih_l0".to_string(), transposed(kernel));
    tensors.insert("weight_hh_l0".to_string(), transposed(recurrent));
    if let Some(bias) = &bias {
        // Keras has one bias; PyTorch's pair adds up to it.
        tensors.insert("bias_ih_l0".to_string(), bias.clone());
        tensors.insert(
            "bias_hh_l0".to_string(),
            TensorData::zeros::<f64, _>(bias.shape().clone()).convert_dtype(bias.dtype()),
        );
    }
    LstmConfig::new(input_size, hidden_size)
        .with_bias(bias.is_some())
        .try_init(device)?
        .load_pytorch_parameters(tensors, device)
}

impl Lstm {
    /// Writes the parameters to a safetensors file under PyTorch's names, which
    /// `nn.LSTM.load_state_dict(safetensors.torch.load_file(path))` accepts.
    pub fn save_pytorch_safetensors(&self, path: &Path) -> Result<()> {
        let tensors = self.pytorch_parameters();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
            .iter()
            .map(|(name, data)| {
                let dtype = match data.dtype() {
                    DType::F64 => safetensors::Dtype::F64,
                    DType::F16 => safetensors::Dtype::F16,
                    DType::BF16 => safetensors::Dtype::BF16,
                    _ => safetensors::Dtype::F32,
                };
                let view = safetensors::tensor::TensorView::new(
                    dtype,
                    data.shape().to_vec(),
                    data.as_bytes(),
                )
                .map_err(|err| LstmError::format(path, format!("`{name}`: {err}")))?;
                Ok((name.clone(), view))
            })
            .collect::<Result<_>>()?;
        let bytes = safetensors::tensor::serialize(views, None)
            .map_err(|err| LstmError::format(path, err.to_string()))?;
        crate::files::write_atomic(path, &bytes)
    }
}

/// Reads the float arrays of a NumPy `.npz` archive.
#[cfg(feature = "npz")]
fn read_npz(path: &Path) -> Result<NamedTensors> {
    let file = std::fs::File::open(path).map_err(|err| LstmError::io(path, err))?;
    let mut archive = ndarray_npy::NpzReader::new(file)
        .map_err(|err| LstmError::format(path, format!("not an .npz archive: {err}")))?;
    let names = archive
        .names()
        .map_err(|err| LstmError::format(path, err.to_string()))?;
    let mut tensors = NamedTensors::new();
    for name in names {
        let array: numpy_array::ArrayD<f32> = archive
            .by_name(&name)
            .map_err(|err| LstmError::format(path, format!("array `{name}`: {err}")))?;
        let shape = array.shape().to_vec();
        let values: Vec<f32> = array.iter().copied().collect();
        tensors.insert(
            name.trim_end_matches(".npy").to_string(),
            TensorData::new(values, shape),
        );
    }
    Ok(tensors)
}
