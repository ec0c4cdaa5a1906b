//! The fused layer's backward pass on the host (what it computes: [`super::layer`]).

use super::forward::Saved;
use super::gates::{activated_rows, cell_gradient_rows, elementwise_kernel};
use super::layer::{PackedWeights, StateRows, copy_row};
use super::schedule::StepAt;
use crate::cpu::elem::{Elem, RowShared, matmul};
use crate::cpu::isa::CpuKernel;
use crate::cpu::packed::{PackedRhs, ROWS_PER_TASK};
use crate::cpu::pool::{self, Pooled};
use crate::cpu::tile::Accumulation;
use crate::fused::contract::{LayerDims, LayerGradients, Wanted};

/// The gradients of a layer call from those of its results (`None`: zero).
///
/// - `grad_output`: `[T, N, D·Hout]`; `grad_hidden`: `[D, N, Hout]`; `grad_cell`: `[D, N, H]`
///
/// The recurrence runs backwards on the forward pass's thread team (the gates' gradients in
/// place of the activated gates, the bias and projection gradients summed per unit); the
/// weight and input gradients are then one product each over all steps.
pub(crate) fn backward<E: Elem>(
    mut saved: Saved<E>,
    grad_output: Option<&[E]>,
    grad_hidden: Option<&[E]>,
    grad_cell: Option<&[E]>,
    wanted: Wanted,
) -> LayerGradients<Pooled<E>> {
    let dims = saved.dims;
    let (batch, directions) = (dims.batch, dims.directions);
    let mut grad_hidden0 = pool::zeros(directions * batch * dims.hidden_out);
    let mut grad_cell0 = pool::zeros(directions * batch * dims.hidden);
    // Activated gates in, the gates' gradients out.
    let mut gates = std::mem::take(&mut saved.gates);
    let unit_sums = {
        let packed = pack_transposed(&saved);
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
            kernel: elementwise_kernel::<E>(),
        };
        saved
            .schedule
            .run(directions, |d, block| (d, unit.run(d, block)))
    };
    let (bias, projection) = sum_units(&unit_sums, &dims, wanted, &saved);
    LayerGradients {
        hidden: wanted.hidden.then_some(grad_hidden0),
        cell: wanted.cell.then_some(grad_cell0),
        bias,
        projection,
        recurrent: wanted
            .recurrent
            .then(|| recurrent_weight_gradient(&saved, &gates)),
        input_weights: saved
            .input
            .as_ref()
            .filter(|_| wanted.input_weights)
            .map(|input| input_weight_gradient(&dims, input, &gates)),
        input: wanted.input.then(|| input_gradient(&saved, &gates)),
    }
}

/// The per-step products' right-hand sides, transposed and packed once for every step:
/// `W_h[d]ᵀ` and an LSTMP's `W_hr[d]ᵀ`.
fn pack_transposed<E: Elem>(saved: &Saved<E>) -> PackedWeights<E> {
    let dims = saved.dims;
    let uses = dims.steps * saved.schedule.blocks.len();
    let rows = saved.schedule.largest_block();
    let weights = &saved.weights;
    PackedWeights {
        input: Vec::new(),
        recurrent: (0..dims.directions)
            .map(|d| {
                let transposed = weights.recurrent_matrix(&dims, d, true);
                PackedRhs::pack(transposed, dims.hidden_out, uses, rows)
            })
            .collect(),
        projection: (0..dims.directions)
            .filter_map(|d| weights.projection_matrix(&dims, d, true))
            .map(|projection| PackedRhs::pack(projection, dims.hidden, uses, rows))
            .collect(),
    }
}

/// The bias `[D·G]` and projection `[D, H, Hout]` gradients, the units' sums added up by
/// direction; `None` where not wanted.
fn sum_units<E: Elem>(
    unit_sums: &[(usize, UnitSums<E>)],
    dims: &LayerDims,
    wanted: Wanted,
    saved: &Saved<E>,
) -> (Option<Pooled<E>>, Option<Pooled<E>>) {
    let add = |total: &mut [E], part: &[E]| {
        for (total, &part) in total.iter_mut().zip(part) {
            *total = *total + part;
        }
    };
    let width = dims.gates();
    let bias = wanted.bias.then(|| {
        let mut bias = pool::zeros(dims.directions * width);
        for (d, sums) in unit_sums {
            add(&mut bias[d * width..(d + 1) * width], &sums.bias);
        }
        bias
    });
    let size = dims.hidden * dims.hidden_out;
    let projection = (wanted.projection && saved.weights.projection.is_some()).then(|| {
        let mut projection = pool::zeros(dims.directions * size);
        for (d, sums) in unit_sums {
            add(&mut projection[d * size..(d + 1) * size], &sums.projection);
        }
        projection
    });
    (bias, projection)
}

/// Direction `d`'s gate gradients, `[T·N, G]`.
fn gate_gradients<'g, E: Elem>(dims: &LayerDims, gates: &'g [E], d: usize) -> &'g [E] {
    let size = dims.steps * dims.batch * dims.gates();
    &gates[d * size..(d + 1) * size]
}

/// `dW_h[d] = Σ_steps h_inᵀ · dz[d]`, `[Hout, D·G]`.
fn recurrent_weight_gradient<E: Elem>(saved: &Saved<E>, gates: &[E]) -> Pooled<E> {
    let dims = &saved.dims;
    let (rows, width, hidden_out) = (dims.steps * dims.batch, dims.gates(), dims.hidden_out);
    let mut recurrent = pool::zeros(hidden_out * dims.directions * width);
    for d in 0..dims.directions {
        matmul(
            &mut recurrent[d * width..],
            dims.directions * width,
            false,
            &saved.hidden_in[d * rows * hidden_out..],
            (1, hidden_out),
            gate_gradients(dims, gates, d),
            (width, 1),
            (hidden_out, width, rows),
            true,
        );
    }
    recurrent
}

/// `dW_x[:, d] = xᵀ · dz[d]`, `[F, D·G]`.
fn input_weight_gradient<E: Elem>(dims: &LayerDims, input: &[E], gates: &[E]) -> Pooled<E> {
    let (rows, width, features) = (dims.steps * dims.batch, dims.gates(), dims.features);
    let mut input_weights = pool::zeros(features * dims.directions * width);
    for d in 0..dims.directions {
        matmul(
            &mut input_weights[d * width..],
            dims.directions * width,
            false,
            input,
            (1, features),
            gate_gradients(dims, gates, d),
            (width, 1),
            (features, width, rows),
            true,
        );
    }
    input_weights
}

/// `dx = Σ_d dz[d] · W_x[:, d]ᵀ`, in the call's layout and row order.
fn input_gradient<E: Elem>(saved: &Saved<E>, gates: &[E]) -> Pooled<E> {
    let dims = &saved.dims;
    let (rows, width, features) = (dims.steps * dims.batch, dims.gates(), dims.features);
    // Every element is written: the first direction's product replaces what the buffer held.
    let mut input = pool::reused(rows * features);
    for d in 0..dims.directions {
        let transposed = saved.weights.input_matrix(dims, d, true);
        PackedRhs::pack(transposed, features, dims.steps, ROWS_PER_TASK.min(rows))
            .multiply_rows_parallel(
                &mut input,
                features,
                match d > 0 {
                    true => Accumulation::Add,
                    false => Accumulation::Replace,
                },
                gate_gradients(dims, gates, d),
                width,
                rows,
            );
    }
    saved.schedule.to_call_layout(input, dims, features)
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
    /// The instruction set of the gate passes.
    kernel: CpuKernel,
    dims: LayerDims,
    saved: &'a Saved<E>,
    packed: &'a PackedWeights<E>,
    grad_output: Option<&'a [E]>,
    grad_hidden: Option<&'a [E]>,
    grad_cell: Option<&'a [E]>,
    buffers: &'a BackwardBuffers<'a, E>,
    wanted: Wanted,
}

/// A backward unit's own rows across its steps, in internal row order.
struct BackwardRows<E> {
    /// `[rows, Hout]`, `[rows, H]`: the gradients of the state after the step.
    dh: Vec<E>,
    dc: Vec<E>,
    /// `[rows, Hout]`: the recurrent dropout mask.
    mask: Option<Vec<E>>,
    /// The step's gates when they are not contiguous in the saved gates.
    gathered: Vec<E>,
    /// `[rows, H]`: `c_t` and `c_{t-1}` of the step.
    cells: Vec<E>,
    previous_cells: Vec<E>,
    /// `[rows, H]`: an LSTMP's `o·tanh(c)` and its gradient.
    activated: Vec<E>,
    grad_activated: Vec<E>,
}

impl<'a, E: Elem> BackwardUnit<'a, E> {
    /// Direction `d` of the rows `first..first + rows`, every step from the last.
    fn run(&self, d: usize, (first, rows): (usize, usize)) -> UnitSums<E> {
        let (dims, schedule) = (self.dims, &self.saved.schedule);
        let with_projection = self.saved.weights.projection.is_some();
        let mut sums = UnitSums {
            bias: vec![E::zero(); if self.wanted.bias { dims.gates() } else { 0 }],
            projection: vec![
                E::zero();
                if with_projection {
                    dims.hidden * dims.hidden_out
                } else {
                    0
                }
            ],
        };
        let mut unit = self.start(d, first, rows);
        // Backwards in time the unit's last steps may have no row running yet.
        for step in (0..dims.steps).rev() {
            if let Some(at) = schedule.at(d, (first, rows), step) {
                self.step(&at, &mut unit, &mut sums);
            }
        }
        for i in 0..rows {
            let row = d * dims.batch + schedule.original(first + i);
            // SAFETY: this unit's direction of its row.
            unsafe {
                self.buffers
                    .state
                    .write(row, i, (&unit.dh, &unit.dc), &dims)
            };
        }
        sums
    }

    /// The unit's rows of the final state's gradients and of the recurrent dropout mask.
    fn start(&self, d: usize, first: usize, rows: usize) -> BackwardRows<E> {
        let (hidden, hidden_out) = (self.dims.hidden, self.dims.hidden_out);
        let state_row = |i: usize| d * self.dims.batch + self.saved.schedule.original(first + i);
        let gather = |source: Option<&[E]>, width: usize| {
            let mut rows_of = vec![E::zero(); rows * width];
            if let Some(source) = source {
                for i in 0..rows {
                    copy_row(&mut rows_of, i, source, state_row(i), width);
                }
            }
            rows_of
        };
        let projection_rows = match self.saved.weights.projection {
            Some(_) => rows * hidden,
            None => 0,
        };
        BackwardRows {
            dh: gather(self.grad_hidden, hidden_out),
            dc: gather(self.grad_cell, hidden),
            mask: self
                .saved
                .recurrent_mask
                .as_deref()
                .map(|mask| gather(Some(mask), hidden_out)),
            gathered: Vec::new(),
            cells: vec![E::zero(); rows * hidden],
            previous_cells: vec![E::zero(); rows * hidden],
            activated: vec![E::zero(); projection_rows],
            grad_activated: vec![E::zero(); projection_rows],
        }
    }

    /// One step backwards: the gates' gradients in place of the activated gates, the bias and
    /// projection sums, and `dh_{t-1} = (dz · W_hᵀ) ⊙ mask`.
    fn step(&self, at: &StepAt, unit: &mut BackwardRows<E>, sums: &mut UnitSums<E>) {
        let (hidden, hidden_out, width) =
            (self.dims.hidden, self.dims.hidden_out, self.dims.gates());
        let (active, d) = (at.active, at.direction);
        self.load_step(at, unit);
        let BackwardRows {
            dh,
            dc,
            mask,
            gathered,
            cells,
            previous_cells,
            activated,
            grad_activated,
        } = unit;
        let gates = self.gate_rows(at, gathered);
        let cells = &cells[..active * hidden];
        let grad_activated: &[E] = match self.packed.projection.get(d) {
            None => &dh[..active * hidden],
            Some(projection) => {
                // d(o·tanh c) = dh · W_hrᵀ;  dW_hr += (o·tanh c)ᵀ · dh
                projection.multiply(
                    grad_activated,
                    hidden,
                    Accumulation::Replace,
                    dh,
                    (hidden_out, 1),
                    active,
                );
                activated_rows(
                    self.kernel,
                    gates,
                    cells,
                    &mut activated[..active * hidden],
                    hidden,
                );
                let sizes = (hidden, hidden_out, active);
                let (lhs, rhs) = ((1, hidden), (hidden_out, 1));
                matmul(
                    &mut sums.projection,
                    hidden_out,
                    true,
                    activated,
                    lhs,
                    dh,
                    rhs,
                    sizes,
                    false,
                );
                &grad_activated[..active * hidden]
            }
        };
        let previous = &previous_cells[..active * hidden];
        let dc = &mut dc[..active * hidden];
        cell_gradient_rows(
            self.kernel,
            gates,
            cells,
            previous,
            grad_activated,
            dc,
            hidden,
        );
        if !sums.bias.is_empty() {
            for row in gates.chunks_exact(width) {
                for (total, &g) in sums.bias.iter_mut().zip(row) {
                    *total = *total + g;
                }
            }
        }
        self.packed.recurrent[d].multiply(
            dh,
            hidden_out,
            Accumulation::Replace,
            gates,
            (width, 1),
            active,
        );
        if let Some(mask) = mask {
            for (g, &m) in dh.iter_mut().zip(&*mask).take(active * hidden_out) {
                *g = *g * m;
            }
        }
        if !at.aligned {
            self.scatter_gates(at, gathered);
        }
    }

    /// The step's `c_t` and `c_{t-1}` rows, and the output's gradient added into `dh`.
    fn load_step(&self, at: &StepAt, unit: &mut BackwardRows<E>) {
        let (dims, saved) = (&self.dims, self.saved);
        let (hidden, hidden_out) = (dims.hidden, dims.hidden_out);
        let out_width = dims.directions * hidden_out;
        let d = at.direction;
        for i in 0..at.active {
            let row = at.first + i;
            let time = |step: usize| saved.schedule.time(dims, d, step, row);
            copy_row(
                &mut unit.cells,
                i,
                &saved.cells,
                dims.row(d, time(at.step), row),
                hidden,
            );
            match at.step {
                0 => {
                    let state_row = d * dims.batch + saved.schedule.original(row);
                    copy_row(
                        &mut unit.previous_cells,
                        i,
                        &saved.initial_cell,
                        state_row,
                        hidden,
                    );
                }
                step => {
                    let previous = dims.row(d, time(step - 1), row);
                    copy_row(&mut unit.previous_cells, i, &saved.cells, previous, hidden);
                }
            }
            if let Some(grad) = self.grad_output {
                let out = dims.sequence_row(time(at.step), saved.schedule.original(row))
                    * out_width
                    + d * hidden_out;
                let dh = &mut unit.dh[i * hidden_out..(i + 1) * hidden_out];
                for (total, &g) in dh.iter_mut().zip(&grad[out..out + hidden_out]) {
                    *total = *total + g;
                }
            }
        }
    }

    /// The step's activated gates: in place when contiguous, else gathered into `scratch`
    /// (and put back by [`BackwardUnit::scatter_gates`]).
    fn gate_rows<'b>(&self, at: &StepAt, scratch: &'b mut Vec<E>) -> &'b mut [E]
    where
        'a: 'b,
    {
        let (dims, width) = (&self.dims, self.dims.gates());
        let row = |i: usize| {
            let time = self
                .saved
                .schedule
                .time(dims, at.direction, at.step, at.first + i);
            dims.row(at.direction, time, at.first + i) * width
        };
        if at.aligned {
            // SAFETY: rows first..first+active at this time belong to this unit alone.
            return unsafe { self.buffers.gates.rows(row(0), at.active * width) };
        }
        scratch.resize(at.active * width, E::zero());
        for i in 0..at.active {
            // SAFETY: this unit's row.
            let saved = unsafe { self.buffers.gates.rows(row(i), width) };
            scratch[i * width..(i + 1) * width].copy_from_slice(saved);
        }
        &mut scratch[..at.active * width]
    }

    /// The gathered gates' gradients back to their rows.
    fn scatter_gates(&self, at: &StepAt, gathered: &[E]) {
        let (dims, width) = (&self.dims, self.dims.gates());
        for i in 0..at.active {
            let time = self
                .saved
                .schedule
                .time(dims, at.direction, at.step, at.first + i);
            let start = dims.row(at.direction, time, at.first + i) * width;
            // SAFETY: this unit's row.
            let row = unsafe { self.buffers.gates.rows(start, width) };
            row.copy_from_slice(&gathered[i * width..(i + 1) * width]);
        }
    }
}
