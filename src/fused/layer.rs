//! One LSTM layer — every time step of every direction — computed on the host in one call,
//! with its backward pass.
//!
//! Shapes (row-major), with `T` steps, `N` batch rows, `F` input features, `H` hidden units,
//! `Hout` hidden outputs (the projection size of an LSTMP, else `H`), `D` directions and
//! `G = 4H` gate columns ordered input, forget, output, cell candidate:
//!
//! | what | shape |
//! | --- | --- |
//! | layer input `x` | `[T, N, F]` or `[N, T, F]` (batch first) |
//! | input weights, bias | `[F, D·G]`, `[D·G]` (both PyTorch biases summed) |
//! | recurrent weights | `[Hout, D·G]` |
//! | projection `W_hr` | `[D, H, Hout]` |
//! | initial and final state | hidden `[D, N, Hout]`, cell `[D, N, H]` |
//! | recurrent dropout mask | `[D, N, Hout]`, multiplies `h_{t-1}` where it enters the gates |
//! | output | `[T, N, D·Hout]` or `[N, T, D·Hout]`, the forward direction's half first |
//!
//! **Forward.** One thread team runs the recurrence: each unit of the team owns one direction
//! and one block of batch rows for the whole sequence (rows are independent, so the time loop
//! needs no barrier). At each step the unit computes its rows' gate pre-activations
//! `x_t·W_x + h_{t-1}·W_h` with two products against weights packed once per call (see
//! [`super::packed`]), applies the gates and the state update to those rows while they are in
//! cache, and writes the output. In training the activated gates, the cell states and the
//! hidden states that entered the products go to buffers made once per call; in inference
//! nothing is kept beyond the unit's own step.
//!
//! **Padded batches.** A row's loop ends at its length; its reverse direction starts at its
//! last real step. Inside, the rows are reordered so that every block holds rows of similar
//! lengths, longest first (blocks get the rows round-robin, so their work is balanced): the
//! rows still running at a step are then the first ones of each block, one product for all.
//!
//! **Backward** is the mirror image: the reverse time loop on the same units turns the
//! activated gates into the gates' gradient in place, sends the state's gradient back through
//! the transposed recurrent weights (packed once), and sums the bias gradient per unit. The
//! input, input weight and recurrent weight gradients are then one product each over all
//! steps, on every core.

use rayon::prelude::*;

use super::host::{Elem, HostValues, RowShared, matmul, with_widest_simd};
use super::packed::{LhsPart, MatrixRef, PackedRhs};

use std::sync::Arc;

/// Sizes of one layer call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LayerDims {
    /// `T`
    pub steps: usize,
    /// `N`
    pub batch: usize,
    /// `F`
    pub features: usize,
    /// `H`
    pub hidden: usize,
    /// `Hout`: the projection size of an LSTMP, else `H`.
    pub hidden_out: usize,
    /// `D`: 1, or 2 for a bidirectional layer.
    pub directions: usize,
    /// Whether the sequences (input, output and their gradients) are `[N, T, ·]` rather
    /// than `[T, N, ·]`.
    pub batch_first: bool,
}

impl LayerDims {
    /// Row of batch row `row` at time `time` in a sequence tensor.
    fn sequence_row(&self, time: usize, row: usize) -> usize {
        match self.batch_first {
            true => row * self.steps + time,
            false => time * self.batch + row,
        }
    }

    /// `G = 4H`
    pub(crate) fn gates(&self) -> usize {
        4 * self.hidden
    }

    /// Row `row` (internal order) at time `time` of direction `direction` in a `[D, T, N, ·]`
    /// buffer.
    fn row(&self, direction: usize, time: usize, row: usize) -> usize {
        (direction * self.steps + time) * self.batch + row
    }

    /// Multiply-adds of the recurrent products of the whole call.
    fn recurrent_work(&self) -> usize {
        self.directions * self.steps * self.batch * self.hidden_out * self.gates()
    }
}

/// The layer's parameters on the host.
#[derive(Debug)]
pub(crate) struct LayerWeights<E> {
    /// `[F, D·G]`
    pub input: Arc<HostValues<E>>,
    /// `[D·G]`, or none for a layer without biases.
    pub bias: Option<Arc<HostValues<E>>>,
    /// `[Hout, D·G]`
    pub recurrent: Arc<HostValues<E>>,
    /// `[D, H, Hout]` for an LSTMP.
    pub projection: Option<Arc<HostValues<E>>>,
}

impl<E: Elem> LayerWeights<E> {
    /// `W_x[:, d]`, `[F, G]`, or its transpose.
    fn input_matrix(&self, dims: &LayerDims, d: usize, transposed: bool) -> MatrixRef<E> {
        let (features, width) = (dims.features, dims.gates());
        MatrixRef {
            values: self.input.clone(),
            offset: d * width,
            strides: match transposed {
                true => (1, dims.directions * width),
                false => (dims.directions * width, 1),
            },
            rows: if transposed { width } else { features },
        }
    }

    /// `W_h[:, d]`, `[Hout, G]`, or its transpose.
    fn recurrent_matrix(&self, dims: &LayerDims, d: usize, transposed: bool) -> MatrixRef<E> {
        let (hidden_out, width) = (dims.hidden_out, dims.gates());
        let row = dims.directions * width;
        MatrixRef {
            values: self.recurrent.clone(),
            offset: d * width,
            strides: if transposed { (1, row) } else { (row, 1) },
            rows: if transposed { width } else { hidden_out },
        }
    }

    /// `W_hr[d]`, `[H, Hout]`, or its transpose; none without a projection.
    fn projection_matrix(
        &self,
        dims: &LayerDims,
        d: usize,
        transposed: bool,
    ) -> Option<MatrixRef<E>> {
        let (hidden, hidden_out) = (dims.hidden, dims.hidden_out);
        self.projection.as_ref().map(|values| MatrixRef {
            values: values.clone(),
            offset: d * hidden * hidden_out,
            strides: if transposed {
                (1, hidden_out)
            } else {
                (hidden_out, 1)
            },
            rows: if transposed { hidden_out } else { hidden },
        })
    }
}

/// What a layer call reads besides its parameters.
#[derive(Debug)]
pub(crate) struct LayerInputs<E> {
    /// `[T, N, F]` or `[N, T, F]`
    pub input: HostValues<E>,
    /// `[D, N, Hout]`
    pub hidden: HostValues<E>,
    /// `[D, N, H]`
    pub cell: HostValues<E>,
    /// `[D, N, Hout]`
    pub recurrent_mask: Option<HostValues<E>>,
    /// `[N]` real steps per row, each in `1..=T`; none when every row has `T`.
    pub lengths: Option<Vec<usize>>,
}

/// What a layer call produces.
#[derive(Debug)]
pub(crate) struct LayerOutputs<E> {
    /// `[T, N, D·Hout]` or `[N, T, D·Hout]`, zero at padding steps.
    pub output: Vec<E>,
    /// `[D, N, Hout]`: the hidden state after each row's last real step.
    pub hidden: Vec<E>,
    /// `[D, N, H]`
    pub cell: Vec<E>,
}

/// Which gradients a backward pass computes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Wanted {
    pub input: bool,
    pub input_weights: bool,
    pub bias: bool,
    pub recurrent: bool,
    pub projection: bool,
    pub hidden: bool,
    pub cell: bool,
}

/// The gradients of a layer call, shaped as its inputs; `None` where not wanted. `G` is one
/// gradient: host values here, a backend tensor in the backward node.
#[derive(Debug)]
pub(crate) struct LayerGradients<G> {
    pub input: Option<G>,
    pub input_weights: Option<G>,
    pub bias: Option<G>,
    pub recurrent: Option<G>,
    pub projection: Option<G>,
    pub hidden: Option<G>,
    pub cell: Option<G>,
}

impl<G> Default for LayerGradients<G> {
    fn default() -> Self {
        Self {
            input: None,
            input_weights: None,
            bias: None,
            recurrent: None,
            projection: None,
            hidden: None,
            cell: None,
        }
    }
}

impl<G> LayerGradients<G> {
    /// Each gradient turned by `f`, which is given the shape of its input.
    pub(crate) fn map<H>(
        self,
        shapes: &InputShapes,
        mut f: impl FnMut(G, &[usize]) -> H,
    ) -> LayerGradients<H> {
        let mut map = |grad: Option<G>, shape: &[usize]| grad.map(|grad| f(grad, shape));
        LayerGradients {
            input: map(self.input, &shapes.input),
            input_weights: map(self.input_weights, &shapes.input_weights),
            bias: map(self.bias, &shapes.bias),
            recurrent: map(self.recurrent, &shapes.recurrent),
            projection: map(self.projection, &shapes.projection),
            hidden: map(self.hidden, &shapes.hidden),
            cell: map(self.cell, &shapes.cell),
        }
    }
}

/// What the backward pass needs from a training forward pass.
#[derive(Debug)]
pub(crate) struct Saved<E> {
    dims: LayerDims,
    schedule: Schedule,
    weights: LayerWeights<E>,
    /// `[T, N, F]` in internal row order, kept when the input weights want a gradient.
    input: Option<HostValues<E>>,
    /// `[D, T, N, G]`: the activated gates (padding rows: left over input projections).
    gates: Vec<E>,
    /// `[D, T, N, H]`: the cell state after each step.
    cells: Vec<E>,
    /// `[D, T, N, Hout]`: the hidden state (masked) that entered each step's product.
    hidden_in: Vec<E>,
    /// `[D, N, H]`, original row order.
    initial_cell: HostValues<E>,
    /// `[D, N, Hout]`, original row order.
    recurrent_mask: Option<HostValues<E>>,
}

/// The shapes of a layer call's inputs, which are those of their gradients.
#[derive(Debug)]
pub(crate) struct InputShapes {
    pub input: [usize; 3],
    pub input_weights: [usize; 2],
    pub bias: [usize; 1],
    pub recurrent: [usize; 2],
    pub projection: [usize; 3],
    pub hidden: [usize; 3],
    pub cell: [usize; 3],
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

/// How the rows of a call are ordered and cut into the units of the thread team.
#[derive(Clone, Debug)]
struct Schedule {
    /// Internal row `i` is batch row `order[i]`; none when the order is the batch's own.
    order: Option<Vec<usize>>,
    /// Steps of each internal row; none when every row has `T`.
    lengths: Option<Vec<usize>>,
    /// `(first row, rows)` of each block, in internal order; every direction uses the same.
    blocks: Vec<(usize, usize)>,
    /// Whether the units run on several threads.
    parallel: bool,
}

/// Rows below which a block is not split further: smaller products lose more than the second
/// thread gains.
const MIN_BLOCK_ROWS: usize = 8;
/// Recurrent multiply-adds below which a call runs on one thread (a team costs a few µs).
const MIN_PARALLEL_WORK: usize = 1 << 20;

impl Schedule {
    fn new(dims: LayerDims, lengths: Option<&[usize]>) -> Self {
        let batch = dims.batch;
        let threads = rayon::current_num_threads().max(1);
        let parallel = threads > 1 && dims.recurrent_work() >= MIN_PARALLEL_WORK;
        let blocks_per_direction = if parallel {
            threads
                .div_ceil(dims.directions)
                .min(batch / MIN_BLOCK_ROWS)
                .max(1)
        } else {
            1
        };
        let lengths = lengths.filter(|lengths| lengths.iter().any(|&len| len < dims.steps));
        let Some(lengths) = lengths else {
            let per_block = batch.div_ceil(blocks_per_direction);
            let blocks = (0..batch)
                .step_by(per_block)
                .map(|first| (first, per_block.min(batch - first)))
                .collect();
            return Self {
                order: None,
                lengths: None,
                blocks,
                parallel,
            };
        };
        // Longest first (stable), dealt round-robin to the blocks.
        let mut sorted: Vec<usize> = (0..batch).collect();
        sorted.sort_by_key(|&row| std::cmp::Reverse(lengths[row]));
        let mut order = Vec::with_capacity(batch);
        let mut blocks = Vec::with_capacity(blocks_per_direction);
        for block in 0..blocks_per_direction {
            let first = order.len();
            order.extend(sorted.iter().skip(block).step_by(blocks_per_direction));
            blocks.push((first, order.len() - first));
        }
        let internal_lengths = order.iter().map(|&row| lengths[row]).collect();
        let identity = order.iter().enumerate().all(|(i, &row)| i == row);
        Self {
            order: (!identity).then_some(order),
            lengths: Some(internal_lengths),
            blocks,
            parallel,
        }
    }

    /// The batch row of internal row `row`.
    fn original(&self, row: usize) -> usize {
        self.order.as_ref().map_or(row, |order| order[row])
    }

    fn length(&self, row: usize, steps: usize) -> usize {
        self.lengths.as_ref().map_or(steps, |lengths| lengths[row])
    }

    /// The time that `direction` reaches at `step` in internal row `row`.
    fn time(&self, dims: &LayerDims, direction: usize, step: usize, row: usize) -> usize {
        match direction {
            0 => step,
            _ => self.length(row, dims.steps) - 1 - step,
        }
    }

    /// How many of the block's rows are still running at `step` (they come first).
    fn active(&self, (first, rows): (usize, usize), step: usize) -> usize {
        match &self.lengths {
            None => rows,
            Some(lengths) => lengths[first..first + rows].partition_point(|&len| len > step),
        }
    }

    /// Whether the first `active` rows of the block are at the same time at every step.
    fn aligned(&self, direction: usize, first: usize, active: usize) -> bool {
        direction == 0
            || self
                .lengths
                .as_ref()
                .is_none_or(|lengths| lengths[first] == lengths[first + active - 1])
    }

    /// `(direction, block)` of every unit of the thread team.
    fn units(&self, directions: usize) -> Vec<(usize, (usize, usize))> {
        (0..directions)
            .flat_map(|d| self.blocks.iter().map(move |&block| (d, block)))
            .collect()
    }

    /// Runs `work` for every unit, on a thread team when the call is big enough.
    fn run<R: Send>(
        &self,
        directions: usize,
        work: impl Fn(usize, (usize, usize)) -> R + Sync + Send,
    ) -> Vec<R> {
        let units = self.units(directions);
        if self.parallel && units.len() > 1 {
            units
                .into_par_iter()
                .map(|(d, block)| work(d, block))
                .collect()
        } else {
            units.into_iter().map(|(d, block)| work(d, block)).collect()
        }
    }

    /// A sequence tensor (`values`, the call's layout, rows of `width`) as `[T, N, width]` with
    /// its rows in internal order; as it is when that is its layout already.
    fn to_internal<E: Elem>(
        &self,
        values: HostValues<E>,
        dims: &LayerDims,
        width: usize,
    ) -> HostValues<E> {
        if self.order.is_none() && !dims.batch_first {
            return values;
        }
        // Borrowed once: a lent tensor's slice is checked on every borrow.
        let values: &[E] = &values;
        let mut reordered = Vec::with_capacity(values.len());
        for t in 0..dims.steps {
            for i in 0..dims.batch {
                let start = dims.sequence_row(t, self.original(i)) * width;
                reordered.extend_from_slice(&values[start..start + width]);
            }
        }
        reordered.into()
    }

    /// The inverse of [`Schedule::to_internal`].
    fn to_call_layout<E: Elem>(&self, values: Vec<E>, dims: &LayerDims, width: usize) -> Vec<E> {
        if self.order.is_none() && !dims.batch_first {
            return values;
        }
        let mut reordered = vec![E::zero(); values.len()];
        for t in 0..dims.steps {
            for i in 0..dims.batch {
                let from = (t * dims.batch + i) * width;
                let to = dims.sequence_row(t, self.original(i)) * width;
                reordered[to..to + width].copy_from_slice(&values[from..from + width]);
            }
        }
        reordered
    }
}

/// Copies row `row` (width `width`) of `source` into row `i` of `target`.
fn copy_row<E: Elem>(target: &mut [E], i: usize, source: &[E], row: usize, width: usize) {
    target[i * width..(i + 1) * width].copy_from_slice(&source[row * width..(row + 1) * width]);
}

with_widest_simd!(
    fn cell_rows<E>(
        gates: &mut [E],
        bias: &[E],
        cell: &mut [E],
        activated: &mut [E],
        hidden: usize,
    ) {
        // Per row: the gates' pre-activations (plus bias) → activations in place; c ← f·c + i·g;
        // activated ← o·tanh(c).
        let width = 4 * hidden;
        for ((z, c), h) in gates
            .chunks_exact_mut(width)
            .zip(cell.chunks_exact_mut(hidden))
            .zip(activated.chunks_exact_mut(hidden))
        {
            if !bias.is_empty() {
                for (v, &b) in z.iter_mut().zip(bias) {
                    *v = *v + b;
                }
            }
            for v in &mut z[..3 * hidden] {
                *v = v.sigmoid();
            }
            for v in &mut z[3 * hidden..] {
                *v = v.tanh_activation();
            }
            let (i, rest) = z.split_at(hidden);
            let (f, rest) = rest.split_at(hidden);
            let (o, g) = rest.split_at(hidden);
            for k in 0..hidden {
                let next = f[k] * c[k] + i[k] * g[k];
                c[k] = next;
                h[k] = o[k] * next.tanh_activation();
            }
        }
    }
);

with_widest_simd!(
    fn cell_gradient_rows<E>(
        gates: &mut [E],
        cells: &[E],
        previous_cells: &[E],
        grad_activated: &[E],
        grad_cell: &mut [E],
        hidden: usize,
    ) {
        // Per row: activated gates → the gradient of their pre-activations, in place; grad_cell
        // from the gradient after the step to the gradient before it.
        let one = E::one();
        let width = 4 * hidden;
        for (row, z) in gates.chunks_exact_mut(width).enumerate() {
            let range = row * hidden..(row + 1) * hidden;
            let (c, c_prev) = (&cells[range.clone()], &previous_cells[range.clone()]);
            let (dh, dc) = (&grad_activated[range.clone()], &mut grad_cell[range]);
            let (i, rest) = z.split_at_mut(hidden);
            let (f, rest) = rest.split_at_mut(hidden);
            let (o, g) = rest.split_at_mut(hidden);
            for k in 0..hidden {
                let (ik, fk, ok, gk) = (i[k], f[k], o[k], g[k]);
                let tanh = c[k].tanh_activation();
                let dc_total = dc[k] + dh[k] * ok * (one - tanh * tanh);
                i[k] = dc_total * gk * ik * (one - ik);
                f[k] = dc_total * c_prev[k] * fk * (one - fk);
                o[k] = dh[k] * tanh * ok * (one - ok);
                g[k] = dc_total * ik * (one - gk * gk);
                dc[k] = dc_total * fk;
            }
        }
    }
);

with_widest_simd!(
    fn activated_rows<E>(gates: &[E], cells: &[E], activated: &mut [E], hidden: usize) {
        // o·tanh(c) again, from the saved gates and cell states (the projection's input).
        for ((z, c), h) in gates
            .chunks_exact(4 * hidden)
            .zip(cells.chunks_exact(hidden))
            .zip(activated.chunks_exact_mut(hidden))
        {
            for k in 0..hidden {
                h[k] = z[2 * hidden + k] * c[k].tanh_activation();
            }
        }
    }
);

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
    let packed = PackedWeights {
        recurrent: (0..directions)
            .map(|d| {
                let stacked = vec![
                    weights.input_matrix(&dims, d, false),
                    weights.recurrent_matrix(&dims, d, false),
                ];
                PackedRhs::pack_stacked(stacked, width, uses)
            })
            .collect(),
        projection: (0..directions)
            .filter_map(|d| weights.projection_matrix(&dims, d, false))
            .map(|projection| PackedRhs::pack(projection, hidden_out, uses))
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
    let mut gates = vec![E::zero(); saved_len(width)];
    let mut cells = vec![E::zero(); saved_len(hidden)];
    let mut hidden_in = vec![E::zero(); saved_len(hidden_out)];
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

/// A `(hidden, cell)` pair of `[D, N, ·]` buffers the units fill, each its own rows: the final
/// state (forward) or the initial state's gradient (backward).
struct StateRows<'a, E> {
    hidden: RowShared<'a, E>,
    cell: RowShared<'a, E>,
}

impl<'a, E: Elem> StateRows<'a, E> {
    fn new(hidden: &'a mut [E], cell: &'a mut [E]) -> Self {
        Self {
            hidden: RowShared::new(hidden),
            cell: RowShared::new(cell),
        }
    }

    /// Row `i` of a unit's `h` (`[rows, Hout]`) and `c` (`[rows, H]`) into state row `row`.
    ///
    /// # Safety
    /// State row `row` belongs to the calling unit alone.
    unsafe fn write(&self, row: usize, i: usize, (h, c): (&[E], &[E]), dims: &LayerDims) {
        let (hidden, hidden_out) = (dims.hidden, dims.hidden_out);
        // SAFETY: by the caller's promise.
        unsafe {
            self.hidden
                .rows(row * hidden_out, hidden_out)
                .copy_from_slice(&h[i * hidden_out..(i + 1) * hidden_out]);
            self.cell
                .rows(row * hidden, hidden)
                .copy_from_slice(&c[i * hidden..(i + 1) * hidden]);
        }
    }
}

/// The buffers the forward units write, each only its own rows; the saved ones only in
/// training.
struct ForwardBuffers<'a, E> {
    gates: Option<RowShared<'a, E>>,
    output: RowShared<'a, E>,
    /// The final state.
    state: StateRows<'a, E>,
    cells: Option<RowShared<'a, E>>,
    hidden_in: Option<RowShared<'a, E>>,
}

/// Per direction, the right-hand sides of a step's products, packed.
struct PackedWeights<E> {
    /// `W_x[:, d]` stacked on `W_h[d]`, `[F + Hout, G]` (forward), or `W_h[d]ᵀ`, `[G, Hout]`
    /// (backward).
    recurrent: Vec<PackedRhs<E>>,
    /// `W_hr[d]`, `[H, Hout]` (forward) or `W_hr[d]ᵀ`, `[Hout, H]` (backward); none without.
    projection: Vec<PackedRhs<E>>,
}

/// A call's initial state and recurrent dropout mask, original row order.
struct InitialState<E> {
    hidden: HostValues<E>,
    cell: HostValues<E>,
    recurrent_mask: Option<HostValues<E>>,
}

struct ForwardUnit<'a, E> {
    dims: LayerDims,
    schedule: &'a Schedule,
    /// `[D·G]`
    bias: Option<&'a [E]>,
    packed: &'a PackedWeights<E>,
    /// `[T, N, F]` in internal row order, or the call's own `[N, T, F]` (then internal rows
    /// are batch rows).
    input: &'a [E],
    input_batch_first: bool,
    initial: &'a InitialState<E>,
    buffers: &'a ForwardBuffers<'a, E>,
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
                    gates,
                    bias,
                    &mut c[..active * hidden],
                    &mut h[..active * hidden],
                    hidden,
                ),
                Some(projection) => {
                    cell_rows(
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

/// The gradients of a layer call from those of its results (`None`: zero).
///
/// - `grad_output`: `[T, N, D·Hout]`; `grad_hidden`: `[D, N, Hout]`; `grad_cell`: `[D, N, H]`
pub(crate) fn backward<E: Elem>(
    mut saved: Saved<E>,
    grad_output: Option<&[E]>,
    grad_hidden: Option<&[E]>,
    grad_cell: Option<&[E]>,
    wanted: Wanted,
) -> LayerGradients<Vec<E>> {
    let dims = saved.dims;
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
    let rows = steps * batch;
    // The per-step products' right-hand sides, transposed and packed once for every step.
    let uses = steps * saved.schedule.blocks.len();
    let weights = &saved.weights;
    let packed = PackedWeights {
        recurrent: (0..directions)
            .map(|d| PackedRhs::pack(weights.recurrent_matrix(&dims, d, true), hidden_out, uses))
            .collect(),
        projection: (0..directions)
            .filter_map(|d| weights.projection_matrix(&dims, d, true))
            .map(|projection| PackedRhs::pack(projection, hidden, uses))
            .collect(),
    };
    let mut grad_hidden0 = vec![E::zero(); directions * batch * hidden_out];
    let mut grad_cell0 = vec![E::zero(); directions * batch * hidden];
    // Activated gates in, the gates' gradients out.
    let mut gates = std::mem::take(&mut saved.gates);
    let unit_sums = {
        let shared = BackwardBuffers {
            gates: RowShared::new(&mut gates),
            state: StateRows::new(&mut grad_hidden0, &mut grad_cell0),
        };
        let unit = BackwardUnit {
            dims,
            saved: &saved,
            packed: &packed,
            grad_output,
            grad_hidden,
            grad_cell,
            buffers: &shared,
            wanted,
        };
        saved
            .schedule
            .run(directions, |d, block| (d, unit.run(d, block)))
    };

    let mut gradients = LayerGradients::<Vec<E>> {
        hidden: wanted.hidden.then_some(grad_hidden0),
        cell: wanted.cell.then_some(grad_cell0),
        ..Default::default()
    };
    if wanted.bias {
        let mut bias = vec![E::zero(); directions * width];
        for (d, sums) in &unit_sums {
            for (total, &part) in bias[d * width..(d + 1) * width].iter_mut().zip(&sums.bias) {
                *total = *total + part;
            }
        }
        gradients.bias = Some(bias);
    }
    if wanted.projection && saved.weights.projection.is_some() {
        let mut projection = vec![E::zero(); directions * hidden * hidden_out];
        for (d, sums) in &unit_sums {
            let block = &mut projection[d * hidden * hidden_out..(d + 1) * hidden * hidden_out];
            for (total, &part) in block.iter_mut().zip(&sums.projection) {
                *total = *total + part;
            }
        }
        gradients.projection = Some(projection);
    }
    // Direction d's gate gradients, [T·N, G].
    let gate_grads = |d: usize| &gates[d * rows * width..(d + 1) * rows * width];
    if wanted.recurrent {
        // dW_h[d] = Σ_steps h_inᵀ · dz
        let mut recurrent = vec![E::zero(); hidden_out * directions * width];
        for d in 0..directions {
            matmul(
                &mut recurrent[d * width..],
                directions * width,
                false,
                &saved.hidden_in[d * rows * hidden_out..],
                (1, hidden_out),
                gate_grads(d),
                (width, 1),
                (hidden_out, width, rows),
                true,
            );
        }
        gradients.recurrent = Some(recurrent);
    }
    if let (true, Some(input)) = (wanted.input_weights, &saved.input) {
        // dW_x[:, d] = xᵀ · dz[d]
        let mut input_weights = vec![E::zero(); features * directions * width];
        for d in 0..directions {
            matmul(
                &mut input_weights[d * width..],
                directions * width,
                false,
                input,
                (1, features),
                gate_grads(d),
                (width, 1),
                (features, width, rows),
                true,
            );
        }
        gradients.input_weights = Some(input_weights);
    }
    if wanted.input {
        // dx = Σ_d dz[d] · W_x[:, d]ᵀ
        let mut input = vec![E::zero(); rows * features];
        for d in 0..directions {
            PackedRhs::pack(saved.weights.input_matrix(&dims, d, true), features, steps)
                .multiply_rows_parallel(&mut input, features, d > 0, gate_grads(d), width, rows);
        }
        gradients.input = Some(saved.schedule.to_call_layout(input, &dims, features));
    }
    gradients
}

/// What a backward unit sums over its steps.
struct UnitSums<E> {
    /// `[G]`
    bias: Vec<E>,
    /// `[H, Hout]`
    projection: Vec<E>,
}

struct BackwardBuffers<'a, E> {
    /// The gate buffer, activated gates in, their gradients out.
    gates: RowShared<'a, E>,
    /// The initial state's gradient.
    state: StateRows<'a, E>,
}

struct BackwardUnit<'a, E> {
    dims: LayerDims,
    saved: &'a Saved<E>,
    packed: &'a PackedWeights<E>,
    grad_output: Option<&'a [E]>,
    grad_hidden: Option<&'a [E]>,
    grad_cell: Option<&'a [E]>,
    buffers: &'a BackwardBuffers<'a, E>,
    wanted: Wanted,
}

impl<E: Elem> BackwardUnit<'_, E> {
    fn run(&self, d: usize, (first, rows): (usize, usize)) -> UnitSums<E> {
        let dims = self.dims;
        let (hidden, hidden_out, width) = (dims.hidden, dims.hidden_out, dims.gates());
        let saved = self.saved;
        let schedule = &saved.schedule;
        let buffers = self.buffers;
        let state_row = |i: usize| d * dims.batch + schedule.original(first + i);
        let mut dh = vec![E::zero(); rows * hidden_out];
        let mut dc = vec![E::zero(); rows * hidden];
        let mut mask = saved
            .recurrent_mask
            .as_ref()
            .map(|_| vec![E::zero(); rows * hidden_out]);
        for i in 0..rows {
            if let Some(grad) = self.grad_hidden {
                copy_row(&mut dh, i, grad, state_row(i), hidden_out);
            }
            if let Some(grad) = self.grad_cell {
                copy_row(&mut dc, i, grad, state_row(i), hidden);
            }
            if let (Some(mask), Some(source)) = (&mut mask, &saved.recurrent_mask) {
                copy_row(mask, i, source, state_row(i), hidden_out);
            }
        }
        let projection = saved.weights.projection.as_ref();
        let mut sums = UnitSums {
            bias: vec![E::zero(); if self.wanted.bias { width } else { 0 }],
            projection: vec![
                E::zero();
                if projection.is_some() {
                    hidden * hidden_out
                } else {
                    0
                }
            ],
        };
        let mut gathered = Vec::new();
        let mut cells = vec![E::zero(); rows * hidden];
        let mut previous_cells = vec![E::zero(); rows * hidden];
        let (mut activated, mut grad_activated) = match projection {
            Some(_) => (
                vec![E::zero(); rows * hidden],
                vec![E::zero(); rows * hidden],
            ),
            None => (Vec::new(), Vec::new()),
        };
        let recurrent = &self.packed.recurrent[d];
        let out_width = dims.directions * hidden_out;

        for step in (0..dims.steps).rev() {
            let active = schedule.active((first, rows), step);
            if active == 0 {
                continue;
            }
            let time = |i: usize, step: usize| schedule.time(&dims, d, step, first + i);
            let aligned = schedule.aligned(d, first, active);
            for i in 0..active {
                let row = dims.row(d, time(i, step), first + i);
                cells[i * hidden..(i + 1) * hidden]
                    .copy_from_slice(&saved.cells[row * hidden..(row + 1) * hidden]);
                match step {
                    0 => copy_row(
                        &mut previous_cells,
                        i,
                        &saved.initial_cell,
                        state_row(i),
                        hidden,
                    ),
                    _ => {
                        let row = dims.row(d, time(i, step - 1), first + i);
                        previous_cells[i * hidden..(i + 1) * hidden]
                            .copy_from_slice(&saved.cells[row * hidden..(row + 1) * hidden]);
                    }
                }
                if let Some(grad) = self.grad_output {
                    let out = dims.sequence_row(time(i, step), schedule.original(first + i))
                        * out_width
                        + d * hidden_out;
                    for (total, &g) in dh[i * hidden_out..(i + 1) * hidden_out]
                        .iter_mut()
                        .zip(&grad[out..out + hidden_out])
                    {
                        *total = *total + g;
                    }
                }
            }
            let gates: &mut [E] = if aligned {
                // SAFETY: rows first..first+active at this time belong to this unit alone.
                unsafe {
                    buffers
                        .gates
                        .rows(dims.row(d, time(0, step), first) * width, active * width)
                }
            } else {
                gathered.resize(rows * width, E::zero());
                for i in 0..active {
                    // SAFETY: this unit's row.
                    let row = unsafe {
                        buffers
                            .gates
                            .rows(dims.row(d, time(i, step), first + i) * width, width)
                    };
                    gathered[i * width..(i + 1) * width].copy_from_slice(row);
                }
                &mut gathered[..active * width]
            };
            let grad_activated: &[E] = match projection {
                None => &dh[..active * hidden],
                Some(_) => {
                    // d(o·tanh c) = dh · W_hrᵀ;  dW_hr += (o·tanh c)ᵀ · dh
                    self.packed.projection[d].multiply(
                        &mut grad_activated,
                        hidden,
                        false,
                        &dh,
                        (hidden_out, 1),
                        active,
                    );
                    activated_rows(
                        gates,
                        &cells[..active * hidden],
                        &mut activated[..active * hidden],
                        hidden,
                    );
                    matmul(
                        &mut sums.projection,
                        hidden_out,
                        true,
                        &activated,
                        (1, hidden),
                        &dh,
                        (hidden_out, 1),
                        (hidden, hidden_out, active),
                        false,
                    );
                    &grad_activated[..active * hidden]
                }
            };
            cell_gradient_rows(
                gates,
                &cells[..active * hidden],
                &previous_cells[..active * hidden],
                grad_activated,
                &mut dc[..active * hidden],
                hidden,
            );
            if !sums.bias.is_empty() {
                for row in gates.chunks_exact(width) {
                    for (total, &g) in sums.bias.iter_mut().zip(row) {
                        *total = *total + g;
                    }
                }
            }
            // dh_{t-1} = (dz · W_hᵀ) ⊙ mask
            recurrent.multiply(&mut dh, hidden_out, false, gates, (width, 1), active);
            if let Some(mask) = &mask {
                for (g, &m) in dh.iter_mut().zip(mask).take(active * hidden_out) {
                    *g = *g * m;
                }
            }
            if !aligned {
                for i in 0..active {
                    // SAFETY: this unit's row.
                    let row = unsafe {
                        buffers
                            .gates
                            .rows(dims.row(d, time(i, step), first + i) * width, width)
                    };
                    row.copy_from_slice(&gathered[i * width..(i + 1) * width]);
                }
            }
        }
        for i in 0..rows {
            // SAFETY: this unit's direction of its row.
            unsafe { buffers.state.write(state_row(i), i, (&dh, &dc), &dims) };
        }
        sums
    }
}
