//! The fused layer's backward pass on the host (what it computes: [`super::layer`]).

use super::elementwise::{activated_rows, cell_gradient_rows, elementwise_isa};
use super::forward::Saved;
use super::host::{Elem, RowShared, matmul};
use super::kernel::Isa;
use super::layer::{LayerDims, LayerGradients, PackedWeights, StateRows, Wanted, copy_row};
use super::packed::{PackedRhs, ROWS_PER_TASK};

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
    let rows_per_product = saved.schedule.largest_block();
    let weights = &saved.weights;
    let packed = PackedWeights {
        recurrent: (0..directions)
            .map(|d| {
                PackedRhs::pack(
                    weights.recurrent_matrix(&dims, d, true),
                    hidden_out,
                    uses,
                    rows_per_product,
                )
            })
            .collect(),
        projection: (0..directions)
            .filter_map(|d| weights.projection_matrix(&dims, d, true))
            .map(|projection| PackedRhs::pack(projection, hidden, uses, rows_per_product))
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
            isa: elementwise_isa::<E>(),
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
            PackedRhs::pack(
                saved.weights.input_matrix(&dims, d, true),
                features,
                steps,
                ROWS_PER_TASK.min(rows),
            )
            .multiply_rows_parallel(
                &mut input,
                features,
                d > 0,
                gate_grads(d),
                width,
                rows,
            );
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
    /// The instruction set of the gate passes.
    isa: Isa,
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
                        self.isa,
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
                self.isa,
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
