//! The fused layer's forward pass on the host (what it computes: [`super::layer`]).

use super::elementwise::{cell_rows, elementwise_isa};
use super::host::{Elem, HostValues, RowShared};
use super::kernel::Isa;
use super::layer::{
    InputShapes, LayerDims, LayerInputs, LayerOutputs, LayerWeights, PackedWeights, StateRows,
    copy_row,
};
use super::packed::{LhsPart, PackedRhs};
use super::pool::{self, Pooled};
use super::schedule::Schedule;

/// What the backward pass needs from a training forward pass.
#[derive(Debug)]
pub(crate) struct Saved<E> {
    pub(crate) dims: LayerDims,
    pub(crate) schedule: Schedule,
    pub(crate) weights: LayerWeights<E>,
    /// `[T, N, F]` in internal row order, kept when the input weights want a gradient.
    pub(crate) input: Option<HostValues<E>>,
    /// `[D, T, N, G]`: the activated gates (padding rows: left over input projections).
    pub(crate) gates: Pooled<E>,
    /// `[D, T, N, H]`: the cell state after each step.
    pub(crate) cells: Pooled<E>,
    /// `[D, T, N, Hout]`: the hidden state (masked) that entered each step's product.
    pub(crate) hidden_in: Pooled<E>,
    /// `[D, N, H]`, original row order.
    pub(crate) initial_cell: HostValues<E>,
    /// `[D, N, Hout]`, original row order.
    pub(crate) recurrent_mask: Option<HostValues<E>>,
}

impl<E> Saved<E> {
    pub(crate) fn shapes(&self) -> InputShapes {
        let LayerDims {
            steps,
            batch,
            features,
            hidden,
            hidden_out,
            directions,
            ..
        } = self.dims;
        let width = self.dims.gates();
        InputShapes {
            input: match self.dims.batch_first {
                true => [batch, steps, features],
                false => [steps, batch, features],
            },
            input_weights: [features, directions * width],
            bias: [directions * width],
            recurrent: [hidden_out, directions * width],
            projection: [directions, hidden, hidden_out],
            hidden: [directions, batch, hidden_out],
            cell: [directions, batch, hidden],
        }
    }
}

/// Runs the layer. With `train`, also returns what [`backward`] needs (with `keep_input`, the
/// input too, for the input weights' gradient).
pub(crate) fn forward<E: Elem>(
    dims: LayerDims,
    weights: LayerWeights<E>,
    inputs: LayerInputs<E>,
    train: bool,
    keep_input: bool,
) -> (LayerOutputs<E>, Option<Saved<E>>) {
    let LayerDims {
        steps,
        batch,
        features,
        hidden,
        hidden_out,
        directions,
        ..
    } = dims;
    let width = dims.gates();
    let schedule = Schedule::new(dims, inputs.lengths.as_deref());
    let LayerInputs {
        input,
        hidden: initial_hidden,
        cell: initial_cell,
        recurrent_mask,
        lengths: _,
    } = inputs;
    // The units read the input in internal order, time-major; or, when nothing needs that
    // order (no reordering of rows, no input kept for the backward pass), as it is.
    let internal_input = keep_input || schedule.order.is_some();
    let input = match internal_input {
        true => schedule.to_internal(input, &dims, features),
        false => input,
    };
    let input_batch_first = dims.batch_first && !internal_input;
    let initial = InitialState {
        hidden: initial_hidden,
        cell: initial_cell,
        recurrent_mask,
    };

    // Every step's product's right-hand side, packed once: W_x[:, d] stacked on W_h[d].
    let uses = steps * schedule.blocks.len();
    let rows_per_product = schedule.largest_block();
    let packed = PackedWeights {
        recurrent: (0..directions)
            .map(|d| {
                let stacked = vec![
                    weights.input_matrix(&dims, d, false),
                    weights.recurrent_matrix(&dims, d, false),
                ];
                PackedRhs::pack_stacked(stacked, width, uses, rows_per_product)
            })
            .collect(),
        projection: (0..directions)
            .filter_map(|d| weights.projection_matrix(&dims, d, false))
            .map(|projection| PackedRhs::pack(projection, hidden_out, uses, rows_per_product))
            .collect(),
    };
    let bias = weights.bias.clone();
    // Inference keeps nothing for a backward pass: once packed, the weights as given can go
    // (packed products that kept them as they are hold them themselves).
    let weights = train.then_some(weights);

    let rows = steps * batch;
    let mut output = vec![E::zero(); rows * directions * hidden_out];
    let mut final_hidden = vec![E::zero(); directions * batch * hidden_out];
    let mut final_cell = vec![E::zero(); directions * batch * hidden];
    // What the backward pass reads; inference keeps none of it.
    let saved_len = |width: usize| if train { directions * rows * width } else { 0 };
    let mut gates = pool::zeros(saved_len(width));
    let mut cells = pool::zeros(saved_len(hidden));
    let mut hidden_in = pool::zeros(saved_len(hidden_out));
    {
        let shared = ForwardBuffers {
            gates: train.then(|| RowShared::new(&mut gates)),
            output: RowShared::new(&mut output),
            state: StateRows::new(&mut final_hidden, &mut final_cell),
            cells: train.then(|| RowShared::new(&mut cells)),
            hidden_in: train.then(|| RowShared::new(&mut hidden_in)),
        };
        let unit = ForwardUnit {
            dims,
            schedule: &schedule,
            bias: bias.as_deref().map(|bias| &bias[..]),
            packed: &packed,
            input: &input,
            input_batch_first,
            initial: &initial,
            buffers: &shared,
            isa: elementwise_isa::<E>(),
        };
        schedule.run(directions, |d, block| unit.run(d, block));
    }
    let outputs = LayerOutputs {
        output,
        hidden: final_hidden,
        cell: final_cell,
    };
    let saved = weights.map(|weights| Saved {
        dims,
        schedule,
        weights,
        input: keep_input.then_some(input),
        gates,
        cells,
        hidden_in,
        initial_cell: initial.cell,
        recurrent_mask: initial.recurrent_mask,
    });
    (outputs, saved)
}

/// The buffers the forward units write, each only its own rows; the saved ones only in
/// training.
struct ForwardBuffers<'a, E> {
    pub(crate) gates: Option<RowShared<'a, E>>,
    pub(crate) output: RowShared<'a, E>,
    /// The final state.
    pub(crate) state: StateRows<'a, E>,
    pub(crate) cells: Option<RowShared<'a, E>>,
    pub(crate) hidden_in: Option<RowShared<'a, E>>,
}

/// A call's initial state and recurrent dropout mask, original row order.
struct InitialState<E> {
    pub(crate) hidden: HostValues<E>,
    pub(crate) cell: HostValues<E>,
    pub(crate) recurrent_mask: Option<HostValues<E>>,
}

struct ForwardUnit<'a, E> {
    /// The instruction set of the gate passes.
    pub(crate) isa: Isa,
    pub(crate) dims: LayerDims,
    pub(crate) schedule: &'a Schedule,
    /// `[D·G]`
    pub(crate) bias: Option<&'a [E]>,
    pub(crate) packed: &'a PackedWeights<E>,
    /// `[T, N, F]` in internal row order, or the call's own `[N, T, F]` (then internal rows
    /// are batch rows).
    pub(crate) input: &'a [E],
    pub(crate) input_batch_first: bool,
    pub(crate) initial: &'a InitialState<E>,
    pub(crate) buffers: &'a ForwardBuffers<'a, E>,
}

impl<E: Elem> ForwardUnit<'_, E> {
    /// Direction `d` of the rows `first..first + rows`, every step.
    fn run(&self, d: usize, (first, rows): (usize, usize)) {
        let dims = self.dims;
        let (features, hidden, hidden_out, width) =
            (dims.features, dims.hidden, dims.hidden_out, dims.gates());
        let schedule = self.schedule;
        let buffers = self.buffers;
        let state_row = |i: usize| d * dims.batch + schedule.original(first + i);
        // The unit's state, its rows in internal order.
        let mut h = vec![E::zero(); rows * hidden_out];
        let mut c = vec![E::zero(); rows * hidden];
        let mut mask = self
            .initial
            .recurrent_mask
            .as_ref()
            .map(|_| vec![E::zero(); rows * hidden_out]);
        for i in 0..rows {
            copy_row(&mut h, i, &self.initial.hidden, state_row(i), hidden_out);
            copy_row(&mut c, i, &self.initial.cell, state_row(i), hidden);
            if let (Some(mask), Some(source)) = (&mut mask, &self.initial.recurrent_mask) {
                copy_row(mask, i, source, state_row(i), hidden_out);
            }
        }
        let mut masked = mask.as_ref().map(|_| vec![E::zero(); rows * hidden_out]);
        // The step's gates when they are not written in place, and its gathered inputs.
        let mut step_gates = Vec::new();
        let mut step_input = Vec::new();
        let mut activated = match self.packed.projection.is_empty() {
            false => vec![E::zero(); rows * hidden],
            true => Vec::new(),
        };
        let bias = self
            .bias
            .map_or(&[][..], |bias| &bias[d * width..(d + 1) * width]);
        let out_width = dims.directions * hidden_out;

        for step in 0..dims.steps {
            let active = schedule.active((first, rows), step);
            if active == 0 {
                break;
            }
            let time = |i: usize| schedule.time(&dims, d, step, first + i);
            // Whether the step's rows share a time: then they are contiguous everywhere.
            let aligned = schedule.aligned(d, first, active);
            let gates: &mut [E] = match (&buffers.gates, aligned) {
                // SAFETY: rows first..first+active at this time belong to this unit alone.
                (Some(saved), true) => unsafe {
                    saved.rows(dims.row(d, time(0), first) * width, active * width)
                },
                _ => {
                    step_gates.resize(rows * width, E::zero());
                    &mut step_gates[..active * width]
                }
            };
            // z = x_t · W_x + h_{t-1} · W_h   (the bias is added with the activations)
            let input_row = |i: usize| match self.input_batch_first {
                true => (first + i) * dims.steps + time(i),
                false => time(i) * dims.batch + first + i,
            };
            let (input, input_stride): (&[E], usize) = if aligned {
                let stride = if self.input_batch_first {
                    dims.steps
                } else {
                    1
                };
                (&self.input[input_row(0) * features..], stride * features)
            } else {
                step_input.resize(rows * features, E::zero());
                for i in 0..active {
                    copy_row(&mut step_input, i, self.input, input_row(i), features);
                }
                (&step_input, features)
            };
            let recurrent_input: &[E] = match (&mask, &mut masked) {
                (Some(mask), Some(masked)) => {
                    for ((m, &hv), &mv) in masked
                        .iter_mut()
                        .zip(&h)
                        .zip(mask)
                        .take(active * hidden_out)
                    {
                        *m = hv * mv;
                    }
                    masked
                }
                _ => &h,
            };
            if let Some(hidden_in) = &buffers.hidden_in {
                for i in 0..active {
                    // SAFETY: this unit's row.
                    let row = unsafe {
                        hidden_in.rows(dims.row(d, time(i), first + i) * hidden_out, hidden_out)
                    };
                    row.copy_from_slice(&recurrent_input[i * hidden_out..(i + 1) * hidden_out]);
                }
            }
            let parts = [
                LhsPart {
                    values: input,
                    row: input_stride,
                    col: 1,
                    k: features,
                },
                LhsPart {
                    values: recurrent_input,
                    row: hidden_out,
                    col: 1,
                    k: hidden_out,
                },
            ];
            self.packed.recurrent[d].multiply_parts(gates, width, false, &parts, active);
            match self.packed.projection.get(d) {
                None => cell_rows(
                    self.isa,
                    gates,
                    bias,
                    &mut c[..active * hidden],
                    &mut h[..active * hidden],
                    hidden,
                ),
                Some(projection) => {
                    cell_rows(
                        self.isa,
                        gates,
                        bias,
                        &mut c[..active * hidden],
                        &mut activated[..active * hidden],
                        hidden,
                    );
                    projection.multiply(&mut h, hidden_out, false, &activated, (hidden, 1), active);
                }
            }
            for i in 0..active {
                let t = time(i);
                if let (Some(saved), false) = (&buffers.gates, aligned) {
                    // SAFETY: this unit's row.
                    let row = unsafe { saved.rows(dims.row(d, t, first + i) * width, width) };
                    row.copy_from_slice(&step_gates[i * width..(i + 1) * width]);
                }
                if let Some(cells) = &buffers.cells {
                    // SAFETY: this unit's row.
                    let row = unsafe { cells.rows(dims.row(d, t, first + i) * hidden, hidden) };
                    row.copy_from_slice(&c[i * hidden..(i + 1) * hidden]);
                }
                let out =
                    dims.sequence_row(t, schedule.original(first + i)) * out_width + d * hidden_out;
                // SAFETY: this unit's direction of its row.
                let out = unsafe { buffers.output.rows(out, hidden_out) };
                out.copy_from_slice(&h[i * hidden_out..(i + 1) * hidden_out]);
            }
        }
        for i in 0..rows {
            // SAFETY: this unit's direction of its row.
            unsafe { buffers.state.write(state_row(i), i, (&h, &c), &dims) };
        }
    }
}
