//! Parameters (and their gradients) under PyTorch's names: `weight_ih_l0`, `bias_hh_l1_reverse`,
//! `weight_hr_l0`, … for [`Lstm`]; `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` for
//! [`LstmCell`]. This is the public way to bring PyTorch weights in and to hand ours back.
//!
//! PyTorch stacks the four gates' rows in the order input, forget, cell, output and stores
//! weights as `[out, in]`; the gates here store `[in, out]`, so weights are transposed on the
//! way through.

use std::collections::BTreeMap;

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Gradients;

use crate::cell::LstmCell;
use crate::error::{LstmError, Result};
use crate::gate::leaf_param;
use crate::lstm::Lstm;

/// Tensors by name, as plain data (any float dtype).
pub type NamedTensors = BTreeMap<String, TensorData>;

/// How a parameter is read: its value, or its gradient.
trait ParamReader {
    fn read<const D: usize>(&self, param: &Param<Tensor<D>>) -> Tensor<D>;
}

struct Values;

impl ParamReader for Values {
    fn read<const D: usize>(&self, param: &Param<Tensor<D>>) -> Tensor<D> {
        param.val()
    }
}

/// Gradients; a parameter that took no part in the loss has a zero gradient.
struct Grads<'a>(&'a Gradients);

impl ParamReader for Grads<'_> {
    fn read<const D: usize>(&self, param: &Param<Tensor<D>>) -> Tensor<D> {
        let value = param.val();
        value.grad(self.0).unwrap_or_else(|| {
            Tensor::zeros(
                value.shape(),
                (&value.device().without_autodiff(), value.dtype()),
            )
        })
    }
}

impl LstmCell {
    /// This cell's parameters by PyTorch's `LSTMCell` names (`weight_ih`, `weight_hh`,
    /// `bias_ih`, `bias_hh`; `weight_hr` with a projection).
    pub fn pytorch_parameters(&self) -> NamedTensors {
        let mut named = NamedTensors::new();
        self.export(&Values, "", &mut named);
        named
    }

    /// The gradients of this cell's parameters, named as in [`LstmCell::pytorch_parameters`].
    pub fn pytorch_gradients(&self, grads: &Gradients) -> NamedTensors {
        let mut named = NamedTensors::new();
        self.export(&Grads(grads), "", &mut named);
        named
    }

    /// Replaces this cell's parameters with PyTorch's (`LSTMCell` names). The tensors keep
    /// their dtype. Every name must be present with its shape, and no other name may be.
    pub fn load_pytorch_parameters(
        self,
        mut tensors: NamedTensors,
        device: &Device,
    ) -> Result<Self> {
        let cell = self.import(&mut tensors, "", device)?;
        reject_leftovers(tensors, cell.pytorch_parameters().into_keys())?;
        Ok(cell)
    }

    fn export(&self, reader: &impl ParamReader, suffix: &str, named: &mut NamedTensors) {
        let gates = self.gates();
        let join_weights =
            |weights: Vec<Tensor<2>>| Tensor::cat(weights, 1).transpose().into_data();
        named.insert(
            format!("weight_ih{suffix}"),
            join_weights(gates.iter().map(|g| reader.read(&g.input_weight)).collect()),
        );
        named.insert(
            format!("weight_hh{suffix}"),
            join_weights(
                gates
                    .iter()
                    .map(|g| reader.read(&g.recurrent_weight))
                    .collect(),
            ),
        );
        let join_biases =
            |biases: Option<Vec<Tensor<1>>>| biases.map(|b| Tensor::cat(b, 0).into_data());
        let input_biases = gates
            .iter()
            .map(|g| g.input_bias.as_ref().map(|b| reader.read(b)))
            .collect();
        if let Some(data) = join_biases(input_biases) {
            named.insert(format!("bias_ih{suffix}"), data);
        }
        let recurrent_biases = gates
            .iter()
            .map(|g| g.recurrent_bias.as_ref().map(|b| reader.read(b)))
            .collect();
        if let Some(data) = join_biases(recurrent_biases) {
            named.insert(format!("bias_hh{suffix}"), data);
        }
        if let Some(projection) = &self.projection {
            named.insert(
                format!("weight_hr{suffix}"),
                reader.read(projection).transpose().into_data(),
            );
        }
    }

    fn import(mut self, tensors: &mut NamedTensors, suffix: &str, device: &Device) -> Result<Self> {
        let (hidden, hidden_out) = (self.hidden_size, self.output_size());
        let input_weights: Tensor<2> = take(
            tensors,
            &format!("weight_ih{suffix}"),
            [4 * hidden, self.input_size],
            device,
        )?
        .transpose();
        let recurrent_weights: Tensor<2> = take(
            tensors,
            &format!("weight_hh{suffix}"),
            [4 * hidden, hidden_out],
            device,
        )?
        .transpose();
        let has_bias = self.input_gate.input_bias.is_some();
        let mut biases = |name: &str| -> Result<Option<Tensor<1>>> {
            match has_bias {
                true => take(tensors, &format!("{name}{suffix}"), [4 * hidden], device).map(Some),
                false => Ok(None),
            }
        };
        let input_biases = biases("bias_ih")?;
        let recurrent_biases = biases("bias_hh")?;
        if self.projection.is_some() {
            let projection: Tensor<2> = take(
                tensors,
                &format!("weight_hr{suffix}"),
                [hidden_out, hidden],
                device,
            )?;
            self.projection = Some(leaf_param(projection.transpose()));
        }
        let gates = [
            &mut self.input_gate,
            &mut self.forget_gate,
            &mut self.cell_gate,
            &mut self.output_gate,
        ];
        for (k, gate) in gates.into_iter().enumerate() {
            let rows = k * hidden..(k + 1) * hidden;
            gate.input_weight = leaf_param(input_weights.clone().slice(s![.., rows.clone()]));
            gate.recurrent_weight =
                leaf_param(recurrent_weights.clone().slice(s![.., rows.clone()]));
            gate.input_bias = input_biases
                .clone()
                .map(|b| leaf_param(b.slice(rows.clone())));
            gate.recurrent_bias = recurrent_biases
                .clone()
                .map(|b| leaf_param(b.slice(rows.clone())));
        }
        Ok(self)
    }
}

impl Lstm {
    /// Every parameter by PyTorch's `nn.LSTM` names (`weight_ih_l0`, `weight_hh_l0`,
    /// `bias_ih_l0`, `bias_hh_l0`, `weight_hr_l0`, and `…_reverse` for the backward direction).
    pub fn pytorch_parameters(&self) -> NamedTensors {
        let mut named = NamedTensors::new();
        self.export(&Values, &mut named);
        named
    }

    /// The gradients of every parameter, named as in [`Lstm::pytorch_parameters`].
    pub fn pytorch_gradients(&self, grads: &Gradients) -> NamedTensors {
        let mut named = NamedTensors::new();
        self.export(&Grads(grads), &mut named);
        named
    }

    /// Replaces every parameter with PyTorch's (`nn.LSTM` names and layouts). The tensors keep
    /// their dtype (f64 data gives f64 parameters).
    ///
    /// # Errors
    /// A missing name, a name the model has no place for, or a shape that differs from this
    /// LSTM's configuration; each error names the parameter.
    pub fn load_pytorch_parameters(
        self,
        mut tensors: NamedTensors,
        device: &Device,
    ) -> Result<Self> {
        let mut layers = Vec::with_capacity(self.layers.len());
        for (index, mut layer) in self.layers.into_iter().enumerate() {
            layer.forward_cell =
                layer
                    .forward_cell
                    .import(&mut tensors, &format!("_l{index}"), device)?;
            layer.reverse_cell = match layer.reverse_cell {
                Some(cell) => {
                    Some(cell.import(&mut tensors, &format!("_l{index}_reverse"), device)?)
                }
                None => None,
            };
            layers.push(layer);
        }
        let lstm = Lstm { layers, ..self };
        reject_leftovers(tensors, lstm.pytorch_parameters().into_keys())?;
        Ok(lstm)
    }

    fn export(&self, reader: &impl ParamReader, named: &mut NamedTensors) {
        for (index, layer) in self.layers.iter().enumerate() {
            layer
                .forward_cell
                .export(reader, &format!("_l{index}"), named);
            if let Some(cell) = &layer.reverse_cell {
                cell.export(reader, &format!("_l{index}_reverse"), named);
            }
        }
    }
}

/// Removes `name` from `tensors` and makes it a tensor of its own dtype, checking its shape.
fn take<const D: usize>(
    tensors: &mut NamedTensors,
    name: &str,
    shape: [usize; D],
    device: &Device,
) -> Result<Tensor<D>> {
    let data = tensors
        .remove(name)
        .ok_or_else(|| LstmError::MissingParameter(name.to_string()))?;
    if data.shape().as_slice() != shape.as_slice() {
        return Err(LstmError::ParameterShape {
            name: name.to_string(),
            expected: shape.to_vec(),
            actual: data.shape().to_vec(),
        });
    }
    if !data.dtype().is_float() {
        return Err(LstmError::Format {
            path: name.into(),
            reason: format!("expected floating-point values, got {:?}", data.dtype()),
        });
    }
    let dtype = data.dtype();
    Ok(Tensor::from_data(data, (device, dtype)))
}

fn reject_leftovers(tensors: NamedTensors, known: impl Iterator<Item = String>) -> Result<()> {
    match tensors.into_keys().next() {
        Some(name) => Err(LstmError::UnexpectedParameter {
            name,
            known: known.collect::<Vec<_>>().join(", "),
        }),
        None => Ok(()),
    }
}
