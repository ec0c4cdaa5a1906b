//! The computation shared by [`LstmCell`] and [`Lstm`](crate::Lstm): gate weights joined
//! for speed, the input projection of a whole sequence, one step, and the time loop of a layer.
//!
//! Every tensor here carries a leading `directions` axis (1, or 2 for a bidirectional layer),
//! so both directions of a layer run in the same batched products.

use burn::prelude::*;
use burn::tensor::activation::tanh;

use burn::module::Param;

use crate::fused;
use crate::gate::Gate;

/// One cell's parameters, borrowed for joining: its four gates, its projection (LSTMP) and
/// its size. An `LstmCell` lends it (`LstmCell::parts`); this file needs nothing else of the
/// cell.
#[derive(Clone, Copy)]
pub(crate) struct CellParts<'a> {
    pub input_gate: &'a Gate,
    pub forget_gate: &'a Gate,
    pub cell_gate: &'a Gate,
    pub output_gate: &'a Gate,
    /// `[hidden, hidden_out]`
    pub projection: Option<&'a Param<Tensor<2>>>,
    pub hidden_size: usize,
}

/// The four gates of one or two cells, joined for computation.
///
/// Inside, gate blocks are ordered `i, f, o, g` (not PyTorch's `i, f, g, o`) so that the three
/// sigmoid gates form one contiguous block.
#[derive(Clone)]
pub(crate) struct JoinedWeights {
    /// `[input, directions · 4H]`: both directions' input weights side by side.
    input: Tensor<2>,
    /// `[directions · 4H]`: both biases of every gate, summed.
    bias: Option<Tensor<1>>,
    /// `[hidden_out, directions · 4H]`: both directions' recurrent weights side by side (the fused
    /// kernels' form).
    recurrent: Tensor<2>,
    /// `[directions, hidden_out, 4H]`: the same by direction, halved (the composed step's form).
    recurrent_by_direction: Option<Tensor<3>>,
    /// `[directions, hidden, hidden_out]`
    projection: Option<Tensor<3>>,
    hidden_size: usize,
    directions: usize,
}

impl JoinedWeights {
    /// Joins the gate parameters of `cells` (one per direction). `halved` prepares the
    /// weights for [`JoinedWeights::step`] (the composed step); the fused step takes them as
    /// they are.
    pub(crate) fn join(cells: &[CellParts<'_>], halved: bool) -> Self {
        fn ordered<'a>(cell: &CellParts<'a>) -> [&'a Gate; 4] {
            [
                cell.input_gate,
                cell.forget_gate,
                cell.output_gate,
                cell.cell_gate,
            ]
        }
        let input = Tensor::cat(
            cells
                .iter()
                .flat_map(|cell| ordered(cell).map(|gate| gate.input_weight.val()))
                .collect(),
            1,
        );
        let recurrent = Tensor::cat(
            cells
                .iter()
                .flat_map(|cell| ordered(cell).map(|gate| gate.recurrent_weight.val()))
                .collect(),
            1,
        );
        let bias = cells
            .iter()
            .flat_map(|cell| ordered(cell).map(|gate| gate.bias()))
            .collect::<Option<Vec<_>>>()
            .map(|biases| Tensor::cat(biases, 0));
        let projection = cells
            .iter()
            .map(|cell| cell.projection.map(|p| p.val()))
            .collect::<Option<Vec<_>>>()
            .map(|projections| Tensor::stack(projections, 0));
        let hidden_size = cells[0].hidden_size;
        let directions = cells.len();
        if !halved {
            return Self {
                input,
                bias,
                recurrent,
                recurrent_by_direction: None,
                projection,
                hidden_size,
                directions,
            };
        }
        // σ(z) = (1 + tanh(z/2)) / 2: one tanh serves all four gates if the sigmoid gates'
        // columns are halved here, once per call (halving is exact in floating point). It also
        // avoids backends whose sigmoid rounds through f32 (ndarray), keeping f64 exact.
        let device = input.device();
        let halves = Tensor::<1>::from_data(
            TensorData::new(
                (0..directions * 4 * hidden_size)
                    .map(|column| {
                        if column % (4 * hidden_size) < 3 * hidden_size {
                            0.5
                        } else {
                            1.0
                        }
                    })
                    .collect::<Vec<f64>>(),
                [directions * 4 * hidden_size],
            ),
            (&device, input.dtype()),
        );
        let recurrent = recurrent * halves.clone().unsqueeze_dim(0);
        let hidden_out = recurrent.dims()[0];
        let recurrent_by_direction = recurrent
            .clone()
            .reshape([hidden_out, directions, 4 * hidden_size])
            .swap_dims(0, 1);
        Self {
            input: input * halves.clone().unsqueeze_dim(0),
            bias: bias.map(|bias| bias * halves),
            recurrent,
            recurrent_by_direction: Some(recurrent_by_direction),
            projection,
            hidden_size,
            directions,
        }
    }

    /// The input part of every gate's pre-activation (with the biases), for all steps at once.
    ///
    /// - `input`: `[seq, batch, input]`
    ///
    /// Returns `[seq, directions, batch, 4H]`.
    pub(crate) fn project_inputs(&self, input: Tensor<3>) -> Tensor<4> {
        let [seq, batch, features] = input.dims();
        let mut projected = input
            .reshape([seq * batch, features])
            .matmul(self.input.clone());
        if let Some(bias) = &self.bias {
            projected = projected + bias.clone().unsqueeze_dim(0);
        }
        projected
            .reshape([seq, batch, self.directions, 4 * self.hidden_size])
            .swap_dims(1, 2)
    }

    /// Runs one layer as one fused operation (see [`crate::fused`]). Same arguments and
    /// results as [`Self::run`], with the padding given as per-row `lengths` (`None`: every
    /// row is whole), and the input and output `[batch, seq, ·]` with `batch_first`; the
    /// weights must have been joined without halving.
    pub(crate) fn run_fused(
        self,
        input: Tensor<3>,
        hidden: Tensor<3>,
        cell: Tensor<3>,
        lengths: Option<&[usize]>,
        recurrent_mask: Option<Tensor<3>>,
        batch_first: bool,
    ) -> (Tensor<3>, Tensor<3>, Tensor<3>) {
        fused::lstm_layer(
            fused::LayerTensors {
                input,
                input_weights: self.input,
                bias: self.bias,
                recurrent_weights: self.recurrent,
                projection: self.projection,
                hidden,
                cell,
                recurrent_mask,
            },
            lengths,
            batch_first,
        )
    }

    /// One step of every direction.
    ///
    /// - `gate_inputs`: `[directions, batch, 4H]`, this step's slice of [`Self::project_inputs`]
    /// - `hidden`: `[directions, batch, hidden_out]`, `cell`: `[directions, batch, hidden]`
    ///
    /// Returns the new `(hidden, cell)`.
    pub(crate) fn step(
        &self,
        gate_inputs: Tensor<3>,
        hidden: Tensor<3>,
        cell: Tensor<3>,
        recurrent_mask: Option<&Tensor<3>>,
    ) -> (Tensor<3>, Tensor<3>) {
        let h = self.hidden_size;
        let recurrent_input = match recurrent_mask {
            Some(mask) => hidden * mask.clone(),
            None => hidden,
        };
        // The sigmoid gates' pre-activations arrive halved (see `join`).
        let recurrent = self
            .recurrent_by_direction
            .clone()
            .expect("the composed step's weights are joined halved");
        let activated = tanh(gate_inputs + recurrent_input.matmul(recurrent));
        let sigmoid_gates = activated
            .clone()
            .slice(s![.., .., 0..3 * h])
            .mul_scalar(0.5)
            .add_scalar(0.5);
        let candidate = activated.slice(s![.., .., 3 * h..4 * h]);
        let input_gate = sigmoid_gates.clone().slice(s![.., .., 0..h]);
        let forget_gate = sigmoid_gates.clone().slice(s![.., .., h..2 * h]);
        let output_gate = sigmoid_gates.slice(s![.., .., 2 * h..3 * h]);
        let cell = forget_gate * cell + input_gate * candidate;
        let hidden = output_gate * tanh(cell.clone());
        let hidden = match &self.projection {
            Some(projection) => hidden.matmul(projection.clone()),
            None => hidden,
        };
        (hidden, cell)
    }

    /// Runs one layer over a whole sequence.
    ///
    /// - `input`: `[seq, batch, features]`
    /// - `hidden`: `[directions, batch, hidden_out]`, `cell`: `[directions, batch, hidden]`: the initial state
    /// - `mask`: `[seq, directions, batch, 1]`, in step order (see [`step_mask`]): 1 where the step is
    ///   real, 0 where it is padding. Padding steps keep the state and output zeros.
    /// - `recurrent_mask`: `[directions, batch, hidden_out]`, multiplies the previous hidden state where
    ///   it enters the gates (recurrent dropout)
    ///
    /// Returns the outputs `[seq, batch, directions · hidden_out]` (the reverse direction's re-aligned to
    /// forward time) and the final `(hidden, cell)`.
    pub(crate) fn run(
        &self,
        input: Tensor<3>,
        mut hidden: Tensor<3>,
        mut cell: Tensor<3>,
        mask: Option<&Tensor<4>>,
        recurrent_mask: Option<&Tensor<3>>,
    ) -> (Tensor<3>, Tensor<3>, Tensor<3>) {
        let [seq, batch, _] = input.dims();
        let gate_inputs = to_step_order(self.project_inputs(input));
        let mut outputs = Vec::with_capacity(seq);
        for step in 0..seq {
            let gate_inputs = gate_inputs.clone().slice(s![step]).squeeze_dim::<3>(0);
            let (new_hidden, new_cell) =
                self.step(gate_inputs, hidden.clone(), cell.clone(), recurrent_mask);
            match mask {
                Some(mask) => {
                    let keep_new = mask.clone().slice(s![step]).squeeze_dim::<3>(0);
                    let keep_old = keep_new.clone().neg().add_scalar(1.0);
                    // Exact for 0/1 masks: x*1 + y*0 == x, and padding gets a zero gradient.
                    outputs.push(new_hidden.clone() * keep_new.clone());
                    hidden = new_hidden * keep_new.clone() + hidden * keep_old.clone();
                    cell = new_cell * keep_new + cell * keep_old;
                }
                None => {
                    outputs.push(new_hidden.clone());
                    hidden = new_hidden;
                    cell = new_cell;
                }
            }
        }
        let hidden_out = hidden.dims()[2];
        let output = to_step_order(Tensor::stack::<4>(outputs, 0))
            .swap_dims(1, 2)
            .reshape([seq, batch, self.directions * hidden_out]);
        (output, hidden, cell)
    }
}

/// Reverses the time axis of the second direction of a `[seq, directions, ..]` tensor, turning time order
/// into step order and back (the reverse direction's step `s` is time `seq - 1 - s`).
fn to_step_order(tensor: Tensor<4>) -> Tensor<4> {
    if tensor.dims()[1] == 1 {
        return tensor;
    }
    let forward = tensor.clone().slice(s![.., 0..1]);
    let reverse = tensor.slice(s![.., 1..2]).flip([0]);
    Tensor::cat(vec![forward, reverse], 1)
}

/// The `[seq, directions, batch, 1]` step-order mask of a padded batch: entry `[s, d, b]` is 1 when
/// the time that direction `d` reaches at step `s` is below `lengths[b]`.
pub(crate) fn step_mask(
    lengths: &[usize],
    seq: usize,
    directions: usize,
    options: (&Device, burn::tensor::DType),
) -> Tensor<4> {
    let batch = lengths.len();
    let mut values = Vec::with_capacity(seq * directions * batch);
    for step in 0..seq {
        for direction in 0..directions {
            let time = if direction == 0 { step } else { seq - 1 - step };
            values.extend(
                lengths
                    .iter()
                    .map(|&len| if time < len { 1.0f64 } else { 0.0 }),
            );
        }
    }
    Tensor::from_data(
        TensorData::new(values, [seq, directions, batch, 1]),
        options,
    )
}
