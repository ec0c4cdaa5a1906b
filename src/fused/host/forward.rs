//! The fused layer's forward pass on the host (what it computes: [`super::layer`]).

use std::sync::OnceLock;

use super::gates::{cell_rows, elementwise_kernel};
use super::layer::{LayerInputs, LayerOutputs, LayerWeights, PackedWeights, StateRows, copy_row};
use super::schedule::{Schedule, StepAt};
use super::team;
use crate::cpu::elem::{Elem, RowShared};
use crate::cpu::isa::CpuKernel;
use crate::cpu::packed::{LhsPart, PackedRhs, ROWS_PER_TASK, packing_pays};
use crate::cpu::planner::{run_timed_by_calls, size_class};
use crate::cpu::pool::{self, Pooled};
use crate::cpu::tensors::HostValues;
use crate::cpu::tile::Accumulation;
use crate::fused::contract::{InputShapes, LayerDims};

/// What the backward pass needs from a training forward pass.
#[derive(Debug)]
pub(crate) struct Saved<E> {
    pub(crate) dims: LayerDims,
    pub(crate) schedule: Schedule,
    pub(crate) weights: LayerWeights<E>,
    /// `[T, N, F]` in internal row order, kept when the input weights want a gradient.
    pub(crate) input: Option<HostValues<E>>,
    /// `[D, T, N, G]`: the activated gates (zero at padding rows).
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

/// The environment variable that fixes where the input projection runs: `stacked` (each
/// step multiplies `[x_t | h_{t-1}]` by the stacked weights), `apart` (one product for every
/// step before the recurrence, each step then multiplying `h_{t-1}` by `W_h` alone), or
/// `auto` (the default: each layer shape times both on its first calls and keeps the faster).
/// Both give the same bits.
pub const INPUT_PROJECTION_VARIABLE: &str = "BURN_LSTM_INPUT_PROJECTION";

/// The environment variable that fixes how inference shares a layer out over the threads:
/// `rows` (each thread a block of batch rows, every gate column), `columns` (each thread some
/// hidden units' gate columns, every batch row, a barrier a step) or `auto` (the default:
/// each layer shape times the ways on its first calls and keeps the fastest). Both give the
/// same bits; calls the column team does not serve (training, padded batches, projections)
/// go by rows.
pub const THREAD_SPLIT_VARIABLE: &str = "BURN_LSTM_THREAD_SPLIT";

/// [`THREAD_SPLIT_VARIABLE`] read and checked, once per process: `None` for `auto`, else
/// whether inference goes by columns.
pub(crate) fn thread_split_choice() -> Result<Option<bool>, String> {
    static CHOICE: OnceLock<Result<Option<bool>, String>> = OnceLock::new();
    CHOICE
        .get_or_init(|| two_way_choice(THREAD_SPLIT_VARIABLE, ["rows", "columns"]))
        .clone()
}

/// The environment variable `variable` naming one of two ways: `None` for `auto` (or unset),
/// else whether it names the second; an error naming the three values for anything else.
fn two_way_choice(variable: &str, [first, second]: [&str; 2]) -> Result<Option<bool>, String> {
    let value = std::env::var(variable).unwrap_or_default();
    match value.trim() {
        "" | "auto" => Ok(None),
        way if way == first => Ok(Some(false)),
        way if way == second => Ok(Some(true)),
        other => Err(format!(
            "{variable}={other}: unknown (auto, {first} or {second})"
        )),
    }
}

/// The two ways, as [`INPUT_PROJECTION_VARIABLE`] names them.
const PROJECTION_WAYS: &[&str] = &["stacked", "apart"];

/// [`INPUT_PROJECTION_VARIABLE`] read and checked, once per process: `None` for `auto`, else
/// whether the projection runs apart.
pub(crate) fn input_projection_choice() -> Result<Option<bool>, String> {
    static CHOICE: OnceLock<Result<Option<bool>, String>> = OnceLock::new();
    CHOICE
        .get_or_init(|| two_way_choice(INPUT_PROJECTION_VARIABLE, ["stacked", "apart"]))
        .clone()
}

/// Runs the layer. With `train`, also returns what [`backward`](super::backward::backward)
/// needs (with `keep_input`, the input too, for the input weights' gradient).
///
/// Where the input projection runs ([`INPUT_PROJECTION_VARIABLE`]) changes no bit, only the
/// time: one large product before the recurrence (as oneDNN and cuDNN run it) reads each
/// weight once for every step, but writes every step's gates long before they are read; the
/// stacked product reads the input weights at every step. Which costs less depends on the
/// shape and the CPU's caches, so, unless the variable fixes it, each shape's first calls
/// time both and the faster serves the rest. Inference may go by the column team instead
/// ([`THREAD_SPLIT_VARIABLE`], [`team`]): on trial as a third way, the same bits again.
pub(crate) fn forward<E: Elem>(
    dims: LayerDims,
    weights: LayerWeights<E>,
    inputs: LayerInputs<E>,
    train: bool,
    keep_input: bool,
) -> (LayerOutputs<E>, Option<Saved<E>>) {
    let schedule = Schedule::new(dims, inputs.lengths.as_deref());
    // One step has nothing to gather into a larger product; and step products too few to be
    // packed go to the gemm crate, whose rounding a tile projection would not continue.
    let stacked_only = dims.steps == 1 || !packing_pays(step_products(&dims, &schedule));
    if let Some(kernel) = team_kernel(&dims, &schedule, &weights, &inputs, train, stacked_only) {
        let ways: &'static [&'static str] = match (thread_split_choice(), input_projection_choice())
        {
            (Ok(Some(true)), _) => &["columns"],
            (_, Ok(Some(true))) => &["apart", "columns"],
            (_, Ok(Some(false))) => &["stacked", "columns"],
            _ => &["stacked", "apart", "columns"],
        };
        let by = |way: &str| match way {
            "columns" => (team::forward(dims, &weights, &inputs, kernel), None),
            way => forward_with(
                dims,
                schedule,
                weights,
                inputs,
                train,
                keep_input,
                way == "apart",
            ),
        };
        return match ways {
            [only] => by(only),
            _ => run_timed_by_calls(&layer_class::<E>("inference", &dims, train), ways, |way| {
                by(ways[way])
            }),
        };
    }
    let run = |apart: bool| forward_with(dims, schedule, weights, inputs, train, keep_input, apart);
    match (stacked_only, input_projection_choice()) {
        (true, _) => run(false),
        (_, Ok(Some(apart))) => run(apart),
        _ => run_timed_by_calls(
            &layer_class::<E>("input projection", &dims, train),
            PROJECTION_WAYS,
            |way| run(way == 1),
        ),
    }
}

/// The class of a layer shape's call trial: `LSTM layer <what> F32 D1 T128 N64 F128 H256`,
/// sizes rounded up to powers of two, ` training` where the call keeps what the backward pass
/// needs.
fn layer_class<E: Elem>(what: &str, dims: &LayerDims, train: bool) -> String {
    format!(
        "LSTM layer {what} {:?} D{} T{} N{} F{} H{}{}",
        E::dtype(),
        dims.directions,
        size_class(dims.steps),
        size_class(dims.batch),
        size_class(dims.features),
        size_class(dims.hidden),
        if train { " training" } else { "" },
    )
}

/// The tile kernel of the column team's products (see [`team`]) where the team may serve
/// the call: forced ([`THREAD_SPLIT_VARIABLE`]), wherever it can run; else on trial beside
/// the row blocks, where those share the rows out over threads anyway and every thread gets a
/// vector's worth of hidden units. None where the team does not serve, or where the planner
/// gives its products to the gemm crate (too few steps to pack for).
fn team_kernel<E: Elem>(
    dims: &LayerDims,
    schedule: &Schedule,
    weights: &LayerWeights<E>,
    inputs: &LayerInputs<E>,
    train: bool,
    stacked_only: bool,
) -> Option<CpuKernel> {
    let serves = match thread_split_choice() {
        Ok(Some(false)) => false,
        Ok(Some(true)) => team::serves(dims, inputs, train, true),
        _ => !stacked_only && schedule.parallel && team::serves(dims, inputs, train, false),
    };
    if !serves {
        return None;
    }
    let parts = [
        weights.input_matrix(dims, 0, false),
        weights.recurrent_matrix(dims, 0, false),
    ];
    let kernel = PackedRhs::kernel_for(&parts, team::product_columns(dims), dims.steps, dims.batch);
    (kernel != CpuKernel::Gemm).then_some(kernel)
}

/// The step products a right-hand side serves: every step of every block of rows.
fn step_products(dims: &LayerDims, schedule: &Schedule) -> usize {
    dims.steps * schedule.blocks.len()
}

/// [`forward`] of inference by blocks of rows, the input projection stacked: what the column
/// team's results are held to.
#[cfg(test)]
pub(super) fn inference_by_rows<E: Elem>(
    dims: LayerDims,
    weights: LayerWeights<E>,
    inputs: LayerInputs<E>,
) -> LayerOutputs<E> {
    let schedule = Schedule::new(dims, inputs.lengths.as_deref());
    forward_with(dims, schedule, weights, inputs, false, false, false).0
}

/// [`forward`] with the input projection apart (`split`) or stacked.
fn forward_with<E: Elem>(
    dims: LayerDims,
    schedule: Schedule,
    weights: LayerWeights<E>,
    inputs: LayerInputs<E>,
    train: bool,
    keep_input: bool,
    split: bool,
) -> (LayerOutputs<E>, Option<Saved<E>>) {
    let LayerInputs {
        input,
        hidden,
        cell,
        recurrent_mask,
        lengths: _,
    } = inputs;
    // The units read the input in internal order, time-major; or, when nothing needs that
    // order (no reordering of rows, no input kept for the backward pass, no projection of
    // every step at once), as it is.
    let internal_input = keep_input || schedule.order.is_some() || split;
    let input = match internal_input {
        true => schedule.to_internal(input, &dims, dims.features),
        false => input,
    };
    let initial = InitialState {
        hidden,
        cell,
        recurrent_mask,
    };
    let packed = pack_forward(&weights, &dims, &schedule, split);
    let bias = weights.bias.clone();
    // Inference keeps nothing for a backward pass: once packed, the weights as given can go
    // (packed products that kept them as they are hold them themselves).
    let weights = train.then_some(weights);
    let mut results = Results::new(&dims, train, split, schedule.lengths.is_some());
    if split {
        project_inputs(&packed, &dims, &input, &mut results.gates);
    }
    {
        let shared = results.shared(train, split);
        let unit = ForwardUnit {
            dims,
            schedule: &schedule,
            bias: bias.as_deref().map(|bias| &bias[..]),
            packed: &packed,
            input: &input,
            input_batch_first: dims.batch_first && !internal_input,
            initial: &initial,
            buffers: &shared,
            kernel: elementwise_kernel::<E>(),
            split,
        };
        schedule.run(dims.directions, |d, block| unit.run(d, block));
    }
    if split && train {
        // Steps past a row's length hold its input projection: the backward pass reads
        // those rows' gates as gradients, which must be zero there.
        schedule.zero_padding(&mut results.gates, &dims, dims.gates());
    }
    let Results {
        outputs,
        gates,
        cells,
        hidden_in,
    } = results;
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

/// Every step's products' right-hand sides, packed once: `W_x[:, d]` for the projection of
/// every step at once and `W_h[d]` for the steps (`split`), or `W_x[:, d]` stacked on `W_h[d]`;
/// and an LSTMP's `W_hr[d]`.
fn pack_forward<E: Elem>(
    weights: &LayerWeights<E>,
    dims: &LayerDims,
    schedule: &Schedule,
    split: bool,
) -> PackedWeights<E> {
    let uses = step_products(dims, schedule);
    let rows = schedule.largest_block();
    let all_rows = dims.steps * dims.batch;
    PackedWeights {
        // Packed as the step products are (`split` runs only where they are packed), so the
        // steps continue sums of the same kernel.
        input: match split {
            true => (0..dims.directions)
                .map(|d| {
                    let input = weights.input_matrix(dims, d, false);
                    PackedRhs::pack(input, dims.gates(), uses, all_rows.min(ROWS_PER_TASK))
                })
                .collect(),
            false => Vec::new(),
        },
        recurrent: (0..dims.directions)
            .map(|d| {
                let recurrent = weights.recurrent_matrix(dims, d, false);
                let matrices = match split {
                    true => vec![recurrent],
                    false => vec![weights.input_matrix(dims, d, false), recurrent],
                };
                PackedRhs::pack_stacked(matrices, dims.gates(), uses, rows)
            })
            .collect(),
        projection: (0..dims.directions)
            .filter_map(|d| weights.projection_matrix(dims, d, false))
            .map(|projection| PackedRhs::pack(projection, dims.hidden_out, uses, rows))
            .collect(),
    }
}

/// `x·W_x[:, d]` for every step and row of every direction: `[D, T, N, G]` in internal row
/// order (`input`: `[T, N, F]`, internal order), one product per direction over the cores.
fn project_inputs<E: Elem>(
    packed: &PackedWeights<E>,
    dims: &LayerDims,
    input: &[E],
    gates: &mut [E],
) {
    let (rows, width) = (dims.steps * dims.batch, dims.gates());
    for (d, input_weights) in packed.input.iter().enumerate() {
        input_weights.multiply_rows_parallel(
            &mut gates[d * rows * width..(d + 1) * rows * width],
            width,
            Accumulation::Replace,
            input,
            dims.features,
            rows,
        );
    }
}

/// What the units write: the call's results and, in training, what the backward pass reads.
struct Results<E> {
    outputs: LayerOutputs<E>,
    /// `[D, T, N, G]`, `[D, T, N, H]`, `[D, T, N, Hout]` (empty in inference).
    gates: Pooled<E>,
    cells: Pooled<E>,
    hidden_in: Pooled<E>,
}

impl<E: Elem> Results<E> {
    /// The results' buffers; the gates' with `train` or `split` (the projection of every step
    /// is written there), the other saved ones with `train`. Only a `padded` batch leaves rows
    /// of the saved buffers unwritten (past a row's length), which must then read zero; else
    /// every element is written before it is read, and a kept buffer is not cleared first
    /// (W3's step cleared 39 MB a layer: 3% of its time).
    fn new(dims: &LayerDims, train: bool, split: bool, padded: bool) -> Self {
        let rows = dims.steps * dims.batch;
        let buffer = |len: usize| match padded {
            true => pool::zeros(len),
            false => pool::reused(len),
        };
        let saved_len = |width: usize| {
            if train {
                dims.directions * rows * width
            } else {
                0
            }
        };
        Self {
            outputs: LayerOutputs {
                output: buffer(rows * dims.directions * dims.hidden_out),
                hidden: vec![E::zero(); dims.directions * dims.batch * dims.hidden_out],
                cell: vec![E::zero(); dims.directions * dims.batch * dims.hidden],
            },
            gates: buffer(match split {
                true => dims.directions * rows * dims.gates(),
                false => saved_len(dims.gates()),
            }),
            cells: buffer(saved_len(dims.hidden)),
            hidden_in: buffer(saved_len(dims.hidden_out)),
        }
    }

    /// The buffers as the units share them (the saved ones only with `train`; the gates' with
    /// `split` too).
    fn shared(&mut self, train: bool, split: bool) -> ForwardBuffers<'_, E> {
        let LayerOutputs {
            output,
            hidden,
            cell,
        } = &mut self.outputs;
        ForwardBuffers {
            gates: (train || split).then(|| RowShared::new(&mut self.gates)),
            output: RowShared::new(output),
            state: StateRows::new(hidden, cell),
            cells: train.then(|| RowShared::new(&mut self.cells)),
            hidden_in: train.then(|| RowShared::new(&mut self.hidden_in)),
        }
    }
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
    pub(crate) kernel: CpuKernel,
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
    /// Whether the gate buffer holds every step's input projection (see [`forward`]).
    pub(crate) split: bool,
}

/// A forward unit's own rows across its steps, in internal row order.
struct UnitRows<E> {
    /// `[rows, Hout]`, `[rows, H]`: the state.
    hidden: Vec<E>,
    cell: Vec<E>,
    /// `[rows, Hout]`: the recurrent dropout mask, and `h ⊙ mask` for the step.
    mask: Option<Vec<E>>,
    masked: Vec<E>,
    /// The step's gates when they are not written in place, and its gathered inputs.
    step_gates: Vec<E>,
    step_input: Vec<E>,
    /// `[rows, H]`: `o·tanh(c)` before an LSTMP's projection.
    activated: Vec<E>,
}

impl<'a, E: Elem> ForwardUnit<'a, E> {
    /// Direction `d` of the rows `first..first + rows`, every step.
    fn run(&self, d: usize, (first, rows): (usize, usize)) {
        let schedule = self.schedule;
        let mut unit = self.start(d, first, rows);
        // Rows are sorted longest first: once none is running, none runs later.
        for step in 0..self.dims.steps {
            let Some(at) = schedule.at(d, (first, rows), step) else {
                break;
            };
            self.step(&at, &mut unit);
        }
        for i in 0..rows {
            let row = d * self.dims.batch + schedule.original(first + i);
            // SAFETY: this unit's direction of its row.
            unsafe {
                self.buffers
                    .state
                    .write(row, i, (&unit.hidden, &unit.cell), &self.dims)
            };
        }
    }

    /// The unit's rows of the initial state and of the recurrent dropout mask.
    fn start(&self, d: usize, first: usize, rows: usize) -> UnitRows<E> {
        let (hidden, hidden_out) = (self.dims.hidden, self.dims.hidden_out);
        let initial = self.initial;
        let state_row = |i: usize| d * self.dims.batch + self.schedule.original(first + i);
        let gather = |source: &[E], width: usize| {
            let mut rows_of = vec![E::zero(); rows * width];
            for i in 0..rows {
                copy_row(&mut rows_of, i, source, state_row(i), width);
            }
            rows_of
        };
        let mask = initial
            .recurrent_mask
            .as_ref()
            .map(|m| gather(m, hidden_out));
        UnitRows {
            hidden: gather(&initial.hidden, hidden_out),
            cell: gather(&initial.cell, hidden),
            masked: vec![E::zero(); if mask.is_some() { rows * hidden_out } else { 0 }],
            mask,
            step_gates: Vec::new(),
            step_input: Vec::new(),
            activated: match self.packed.projection.is_empty() {
                false => vec![E::zero(); rows * hidden],
                true => Vec::new(),
            },
        }
    }

    /// One step of the unit's running rows: `z = x_t·W_x + h_{t-1}·W_h` (the bias is added
    /// with the activations), the gates and the state update, the saved rows and the output.
    fn step(&self, at: &StepAt, unit: &mut UnitRows<E>) {
        let dims = self.dims;
        let (hidden, hidden_out, width) = (dims.hidden, dims.hidden_out, dims.gates());
        let (active, d) = (at.active, at.direction);
        let UnitRows {
            hidden: h,
            cell: c,
            mask,
            masked,
            step_gates,
            step_input,
            activated,
        } = unit;
        let gates = self.gate_rows(at, step_gates);
        let recurrent_input: &[E] = match mask {
            Some(mask) => {
                for ((m, &hv), &mv) in masked
                    .iter_mut()
                    .zip(&*h)
                    .zip(&*mask)
                    .take(active * hidden_out)
                {
                    *m = hv * mv;
                }
                masked
            }
            None => h,
        };
        self.save_rows(
            at,
            recurrent_input,
            hidden_out,
            self.buffers.hidden_in.as_ref(),
        );
        self.gate_product(at, gates, recurrent_input, step_input);
        let bias = self
            .bias
            .map_or(&[][..], |bias| &bias[d * width..(d + 1) * width]);
        let cells = &mut c[..active * hidden];
        // Training keeps the activated gates (the backward pass reads them); inference leaves
        // the scratch rows as they are.
        let pass = (hidden, self.buffers.cells.is_some());
        match self.packed.projection.get(d) {
            None => cell_rows(
                self.kernel,
                gates,
                bias,
                cells,
                &mut h[..active * hidden],
                pass,
            ),
            Some(projection) => {
                let activated = &mut activated[..active * hidden];
                cell_rows(self.kernel, gates, bias, cells, activated, pass);
                projection.multiply(
                    h,
                    hidden_out,
                    Accumulation::Replace,
                    activated,
                    (hidden, 1),
                    active,
                );
            }
        }
        if !at.aligned {
            self.save_rows(at, step_gates, width, self.buffers.gates.as_ref());
        }
        self.save_rows(at, c, hidden, self.buffers.cells.as_ref());
        self.write_output(at, h);
    }

    /// `gates = x_t·W_x + h_{t-1}·W_h` for the step's rows: the recurrent product continuing
    /// the input projection already in `gates` (`split`), or one product of the stacked
    /// weights.
    fn gate_product(
        &self,
        at: &StepAt,
        gates: &mut [E],
        recurrent_input: &[E],
        step_input: &mut Vec<E>,
    ) {
        let (features, hidden_out, width) =
            (self.dims.features, self.dims.hidden_out, self.dims.gates());
        let (active, d) = (at.active, at.direction);
        let recurrent = &self.packed.recurrent[d];
        if self.split {
            // The gates hold the step's input projection: the recurrent product continues it.
            let part = (hidden_out, 1);
            recurrent.multiply(
                gates,
                width,
                Accumulation::Continue,
                recurrent_input,
                part,
                active,
            );
        } else {
            let (input, input_stride) = self.step_input(at, step_input);
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
            recurrent.multiply_parts(gates, width, Accumulation::Replace, &parts, active);
        }
    }

    /// The step's gate rows: in place in the gate buffer when the rows are contiguous there,
    /// else in `scratch` (with their input projections gathered from the buffer, when it
    /// holds them; copied back to the buffer after the step).
    fn gate_rows<'b>(&self, at: &StepAt, scratch: &'b mut Vec<E>) -> &'b mut [E]
    where
        'a: 'b,
    {
        let width = self.dims.gates();
        let start = |i: usize| {
            let time = self
                .schedule
                .time(&self.dims, at.direction, at.step, at.first + i);
            self.dims.row(at.direction, time, at.first + i) * width
        };
        match (&self.buffers.gates, at.aligned) {
            // SAFETY: rows first..first+active at this time belong to this unit alone.
            (Some(saved), true) => unsafe { saved.rows(start(0), at.active * width) },
            (saved, _) => {
                scratch.resize(at.active * width, E::zero());
                if let (Some(saved), true) = (saved, self.split) {
                    for i in 0..at.active {
                        // SAFETY: this unit's row at this step's time.
                        let row = unsafe { saved.rows(start(i), width) };
                        scratch[i * width..(i + 1) * width].copy_from_slice(row);
                    }
                }
                &mut scratch[..at.active * width]
            }
        }
    }

    /// The step's input rows and their stride: in place when contiguous (aligned rows), else
    /// gathered into `scratch`.
    fn step_input<'b>(&self, at: &StepAt, scratch: &'b mut Vec<E>) -> (&'b [E], usize)
    where
        'a: 'b,
    {
        let (dims, features) = (&self.dims, self.dims.features);
        let input_row = |i: usize| {
            let time = self
                .schedule
                .time(dims, at.direction, at.step, at.first + i);
            match self.input_batch_first {
                true => (at.first + i) * dims.steps + time,
                false => time * dims.batch + at.first + i,
            }
        };
        if at.aligned {
            let stride = if self.input_batch_first {
                dims.steps
            } else {
                1
            };
            return (&self.input[input_row(0) * features..], stride * features);
        }
        scratch.resize(at.active * features, E::zero());
        for i in 0..at.active {
            copy_row(scratch, i, self.input, input_row(i), features);
        }
        (scratch, features)
    }

    /// Copies the step's `values` rows (`width` each) to their places in a saved buffer.
    fn save_rows(&self, at: &StepAt, values: &[E], width: usize, saved: Option<&RowShared<'_, E>>) {
        let Some(saved) = saved else {
            return;
        };
        for i in 0..at.active {
            let time = self
                .schedule
                .time(&self.dims, at.direction, at.step, at.first + i);
            let start = self.dims.row(at.direction, time, at.first + i) * width;
            // SAFETY: this unit's row.
            let row = unsafe { saved.rows(start, width) };
            row.copy_from_slice(&values[i * width..(i + 1) * width]);
        }
    }

    /// The step's hidden states into the output sequence (the caller's layout and row order).
    fn write_output(&self, at: &StepAt, h: &[E]) {
        let (dims, hidden_out) = (&self.dims, self.dims.hidden_out);
        let out_width = dims.directions * hidden_out;
        for i in 0..at.active {
            let row = at.first + i;
            let time = self.schedule.time(dims, at.direction, at.step, row);
            let out = dims.sequence_row(time, self.schedule.original(row)) * out_width
                + at.direction * hidden_out;
            // SAFETY: this unit's direction of its row.
            let out = unsafe { self.buffers.output.rows(out, hidden_out) };
            out.copy_from_slice(&h[i * hidden_out..(i + 1) * hidden_out]);
        }
    }
}
