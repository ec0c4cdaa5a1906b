//! The recurrence of one layer as two CubeCL kernels, forward and backward, each launched
//! once per layer call (see [`super::cube`] for the rest of the layer around them).
//!
//! One cube runs a block of up to four batch rows of one direction through the whole
//! sequence: its units share out the hidden units `j` (each computes the four gates of its `j`
//! for every row of the block, so one read of a recurrent weight serves them all, and the cell
//! state of a unit never leaves it); the previous hidden state is staged in shared memory at
//! each step, and a storage barrier between steps publishes `h_t` before any unit reads it.
//! Nothing is launched per step, and every buffer is visited once per step: the work is linear
//! in the sequence length.
//!
//! Layouts (row-major, `rows = T·N` sequence rows in the call's order, `G = 4H`, gates ordered
//! input, forget, output, cell candidate):
//!
//! | buffer | shape |
//! | --- | --- |
//! | `gates_x` (`x·W_x + b`), `gates`, `grad_gates` | `[rows, D·G]` |
//! | `recurrent` (`W_h`); `recurrent_t`, its transpose (backward) | `[Hout, D·G]`; `[D·G, Hout]` |
//! | `projection` (`W_hr`) | `[D, H, Hout]` |
//! | `output`, `entered`, `grad_output`, `grad_hidden_seq` | `[rows, D·Hout]` |
//! | `cells`, `activated` (training) | `[rows, D·H]` |
//! | states, `mask` | `[D, N, Hout]` and `[D, N, H]` |
//! | `lengths` | `[N]`, each in `1..=T` |
//!
//! A row's steps past its length are padding: zero in every sequence buffer. Its reverse
//! direction starts at its last real step.

use cubecl::prelude::*;

/// The sizes every kernel reads, as scalars.
#[derive(CubeLaunch, CubeType, Clone, Copy)]
pub struct Sizes {
    /// `T`
    pub steps: u32,
    /// `N`
    pub batch: u32,
    /// `H`
    pub hidden: u32,
    /// `Hout`
    pub hidden_out: u32,
    /// 1 when sequences are `[N, T, ·]`, 0 when `[T, N, ·]`.
    pub batch_first: u32,
}

#[cube]
fn sigmoid<F: Float>(x: F) -> F {
    F::new(1.0) / (F::new(1.0) + F::exp(-x))
}

/// `tanh`, its argument clamped where the result is ±1 in f32 anyway: some drivers' `tanh`
/// returns NaN for large arguments.
#[cube]
fn tanh<F: Float>(x: F) -> F {
    F::tanh(F::min(F::max(x, F::new(-15.0)), F::new(15.0)))
}

/// The sequence row of batch row `n` at time `t` (`[T, N, ·]`, or `[N, T, ·]` when
/// `batch_first`).
#[cube]
fn sequence_row(t: usize, n: usize, steps: usize, batch: usize, batch_first: bool) -> usize {
    let mut row = t * batch + n;
    if batch_first {
        row = n * steps + t;
    }
    row
}

/// The time of this direction's `s`-th step for a row of `length` real steps; padding steps
/// (`s ≥ length`) keep their own time.
#[cube]
fn step_time(s: usize, length: usize, direction: usize) -> usize {
    let mut t = s;
    if direction == 1 && s < length {
        t = length - 1 - s;
    }
    t
}

/// The time of the step before time `t` in this direction's order.
#[cube]
fn previous_time(t: usize, direction: usize) -> usize {
    let mut previous = t + 1;
    if direction == 0 {
        previous = t - 1;
    }
    previous
}

/// Real steps of batch row `n`; 0 for a row past the batch (the last cube's spare rows).
#[cube]
fn row_length<F: Float>(lengths: &Tensor<F>, n: usize, batch: usize) -> usize {
    let mut length = 0;
    if n < batch {
        length = u32::cast_from(lengths[n]) as usize;
    }
    length
}

/// Forward through the whole sequence: cube `(b, d)` runs batch rows `b·rows..(b+1)·rows` in
/// direction `d`, each unit computing its hidden units' gates for all of them (one read of a
/// recurrent weight serves every row of the cube).
///
/// With `train`, keeps the activated gates, the cell states and the hidden states that
/// entered the recurrent product (after the mask); with `projected`, `activated` holds
/// `o·tanh(c)` (all steps in training, else this step's only, as `[D, N, H]`).
///
/// (Why one long function: a CubeCL kernel is one GPU function whose loop over time holds
/// the block's cell state in registers and its hidden state in shared memory between the
/// barriers; its parts as `#[cube]` helpers would each take a dozen of its sizes and buffers.
/// The kernel-vs-composed tests on awkward shapes and every f32 golden case check it.)
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn lstm_forward_kernel<F: Float>(
    gates_x: &Tensor<F>,
    recurrent: &Tensor<F>,
    projection: &Tensor<F>,
    hidden0: &Tensor<F>,
    cell0: &Tensor<F>,
    mask: &Tensor<F>,
    lengths: &Tensor<F>,
    output: &mut Tensor<F>,
    hidden_n: &mut Tensor<F>,
    cell_n: &mut Tensor<F>,
    gates: &mut Tensor<F>,
    cells: &mut Tensor<F>,
    entered: &mut Tensor<F>,
    activated: &mut Tensor<F>,
    sizes: Sizes,
    #[comptime] rows: usize,
    #[comptime] staged_len: usize,
    #[comptime] train: bool,
    #[comptime] projected: bool,
    #[comptime] masked: bool,
    #[define(F)] _dtype: ElemType,
) {
    let first = CUBE_POS_X as usize * rows;
    let d = CUBE_POS_Y as usize;
    let directions = CUBE_COUNT_Y as usize;
    let unit = UNIT_POS_X as usize;
    let team = CUBE_DIM_X as usize;
    let steps = sizes.steps as usize;
    let batch = sizes.batch as usize;
    let batch_first = sizes.batch_first == 1;
    let hidden = sizes.hidden as usize;
    let hidden_out = sizes.hidden_out as usize;
    let gate_width = 4 * hidden;
    let row_width = directions * gate_width;
    let out_width = directions * hidden_out;
    let cell_width = directions * hidden;

    // Each row's h_{t-1} after the mask, read by every unit: staged in shared memory (zero
    // for a row not running this step).
    let mut staged = Shared::<[F]>::new_slice(staged_len);
    for s in 0..steps {
        #[unroll]
        for r in 0..rows {
            let n = first + r;
            let length = row_length::<F>(lengths, n, batch);
            let mut k = unit;
            if s < length {
                let t = step_time(s, length, d);
                let row = sequence_row(t, n, steps, batch, batch_first);
                let state = d * batch + n;
                let mut previous = 0;
                if s > 0 {
                    previous = sequence_row(previous_time(t, d), n, steps, batch, batch_first);
                }
                while k < hidden_out {
                    let mut h = hidden0[state * hidden_out + k];
                    if s > 0 {
                        h = output[previous * out_width + d * hidden_out + k];
                    }
                    if masked {
                        h *= mask[state * hidden_out + k];
                    }
                    staged[r * hidden_out + k] = h;
                    if train {
                        entered[row * out_width + d * hidden_out + k] = h;
                    }
                    k += team;
                }
            } else {
                while k < hidden_out {
                    staged[r * hidden_out + k] = F::new(0.0);
                    k += team;
                }
            }
        }
        sync_cube();

        let mut j = unit;
        while j < hidden {
            // acc[4r + gate]: the gates' pre-activations of row r.
            let mut acc = Array::<F>::new(4 * rows);
            #[unroll]
            for r in 0..rows {
                let n = first + r;
                let length = row_length::<F>(lengths, n, batch);
                // A row not running reads row 0's projection, and its sums are dropped.
                let mut base = j;
                if s < length {
                    let row = sequence_row(step_time(s, length, d), n, steps, batch, batch_first);
                    base = row * row_width + d * gate_width + j;
                }
                acc[4 * r] = gates_x[base];
                acc[4 * r + 1] = gates_x[base + hidden];
                acc[4 * r + 2] = gates_x[base + 2 * hidden];
                acc[4 * r + 3] = gates_x[base + 3 * hidden];
            }
            for k in 0..hidden_out {
                let w = k * row_width + d * gate_width + j;
                let weight_input = recurrent[w];
                let weight_forget = recurrent[w + hidden];
                let weight_output = recurrent[w + 2 * hidden];
                let weight_cell = recurrent[w + 3 * hidden];
                #[unroll]
                for r in 0..rows {
                    let h = staged[r * hidden_out + k];
                    acc[4 * r] += h * weight_input;
                    acc[4 * r + 1] += h * weight_forget;
                    acc[4 * r + 2] += h * weight_output;
                    acc[4 * r + 3] += h * weight_cell;
                }
            }
            #[unroll]
            for r in 0..rows {
                let n = first + r;
                let length = row_length::<F>(lengths, n, batch);
                if s < length {
                    let row = sequence_row(step_time(s, length, d), n, steps, batch, batch_first);
                    let state = d * batch + n;
                    let base = row * row_width + d * gate_width + j;
                    let input_gate = sigmoid::<F>(acc[4 * r]);
                    let forget_gate = sigmoid::<F>(acc[4 * r + 1]);
                    let output_gate = sigmoid::<F>(acc[4 * r + 2]);
                    let cell_gate = tanh::<F>(acc[4 * r + 3]);
                    let mut cell_previous = cell0[state * hidden + j];
                    if s > 0 {
                        cell_previous = cell_n[state * hidden + j];
                    }
                    let cell = forget_gate * cell_previous + input_gate * cell_gate;
                    cell_n[state * hidden + j] = cell;
                    let activation = output_gate * tanh::<F>(cell);
                    if projected {
                        if train {
                            activated[row * cell_width + d * hidden + j] = activation;
                        } else {
                            activated[state * hidden + j] = activation;
                        }
                    } else {
                        output[row * out_width + d * hidden_out + j] = activation;
                    }
                    if train {
                        gates[base] = input_gate;
                        gates[base + hidden] = forget_gate;
                        gates[base + 2 * hidden] = output_gate;
                        gates[base + 3 * hidden] = cell_gate;
                        cells[row * cell_width + d * hidden + j] = cell;
                    }
                }
            }
            j += team;
        }

        // Padding: zero in every sequence buffer a row owns at a time past its length.
        #[unroll]
        for r in 0..rows {
            let n = first + r;
            let length = row_length::<F>(lengths, n, batch);
            if n < batch && s >= length {
                let row = sequence_row(s, n, steps, batch, batch_first);
                let mut k = unit;
                while k < hidden_out {
                    output[row * out_width + d * hidden_out + k] = F::new(0.0);
                    if train {
                        entered[row * out_width + d * hidden_out + k] = F::new(0.0);
                    }
                    k += team;
                }
                if train {
                    let mut j = unit;
                    while j < hidden {
                        cells[row * cell_width + d * hidden + j] = F::new(0.0);
                        if projected {
                            activated[row * cell_width + d * hidden + j] = F::new(0.0);
                        }
                        j += team;
                    }
                    let mut g = unit;
                    while g < gate_width {
                        gates[row * row_width + d * gate_width + g] = F::new(0.0);
                        g += team;
                    }
                }
            }
        }

        if projected {
            // h_t = (o·tanh c)·W_hr needs every unit's o·tanh c.
            sync_storage();
            #[unroll]
            for r in 0..rows {
                let n = first + r;
                let length = row_length::<F>(lengths, n, batch);
                if s < length {
                    let row = sequence_row(step_time(s, length, d), n, steps, batch, batch_first);
                    let mut source = (d * batch + n) * hidden;
                    if train {
                        source = row * cell_width + d * hidden;
                    }
                    let mut k = unit;
                    while k < hidden_out {
                        let mut sum = F::new(0.0);
                        for j in 0..hidden {
                            sum += activated[source + j]
                                * projection[(d * hidden + j) * hidden_out + k];
                        }
                        output[row * out_width + d * hidden_out + k] = sum;
                        k += team;
                    }
                }
            }
        }
        sync_storage();
    }

    // The final hidden state: the output at a row's last real step in this direction.
    #[unroll]
    for r in 0..rows {
        let n = first + r;
        let length = row_length::<F>(lengths, n, batch);
        if n < batch {
            let mut last = 0;
            if d == 0 {
                last = length - 1;
            }
            let row = sequence_row(last, n, steps, batch, batch_first);
            let state = d * batch + n;
            let mut k = unit;
            while k < hidden_out {
                hidden_n[state * hidden_out + k] = output[row * out_width + d * hidden_out + k];
                k += team;
            }
        }
    }
}

/// `sums[r] = Σ_g grad_gates[bases[r] + g] · W_hᵀ[d·G + g, k]` for each row of the cube: what
/// the gates of the rows' steps at `bases` send back to hidden unit `k` (before the mask).
#[cube]
#[allow(clippy::too_many_arguments)]
fn recurrent_sums<F: Float>(
    sums: &mut Array<F>,
    bases: &Array<u32>,
    k: usize,
    d: usize,
    gate_width: usize,
    hidden_out: usize,
    recurrent_t: &Tensor<F>,
    grad_gates: &mut Tensor<F>,
    #[comptime] rows: usize,
) {
    #[unroll]
    for r in 0..rows {
        sums[r] = F::new(0.0);
    }
    for g in 0..gate_width {
        let weight = recurrent_t[(d * gate_width + g) * hidden_out + k];
        #[unroll]
        for r in 0..rows {
            sums[r] += grad_gates[bases[r] as usize + g] * weight;
        }
    }
}

/// The gradient reaching `h_t` (unit `k`) at step `s` of a row: the output's gradient, the
/// final state's at the last real step, and otherwise `recurrent_sum`, what the next step's
/// gates send back (through the mask).
#[cube]
#[allow(clippy::too_many_arguments)]
fn hidden_gradient<F: Float>(
    recurrent_sum: F,
    k: usize,
    s: usize,
    length: usize,
    row: usize,
    state: usize,
    d: usize,
    out_width: usize,
    hidden_out: usize,
    mask: &Tensor<F>,
    grad_output: &Tensor<F>,
    grad_hidden_n: &Tensor<F>,
    #[comptime] masked: bool,
    #[comptime] with_output_grad: bool,
) -> F {
    let mut grad = F::new(0.0);
    if with_output_grad {
        grad = grad_output[row * out_width + d * hidden_out + k];
    }
    if s + 1 == length {
        grad += grad_hidden_n[state * hidden_out + k];
    } else {
        let mut sum = recurrent_sum;
        if masked {
            sum *= mask[state * hidden_out + k];
        }
        grad += sum;
    }
    grad
}

/// Backward through the whole sequence, in reverse step order: cube `(b, d)` as forward.
///
/// Writes the gates' pre-activation gradient at every step (zero at padding), the initial
/// state's gradients, and with `projected` the hidden state's gradient at every step (for
/// `W_hr`'s gradient). `grad_cell0` carries the cell gradient from step to step.
///
/// (One long function for the forward kernel's reason; see there.)
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn lstm_backward_kernel<F: Float>(
    gates: &Tensor<F>,
    cells: &Tensor<F>,
    cell0: &Tensor<F>,
    recurrent_t: &Tensor<F>,
    projection: &Tensor<F>,
    mask: &Tensor<F>,
    lengths: &Tensor<F>,
    grad_output: &Tensor<F>,
    grad_hidden_n: &Tensor<F>,
    grad_cell_n: &Tensor<F>,
    grad_gates: &mut Tensor<F>,
    grad_hidden0: &mut Tensor<F>,
    grad_cell0: &mut Tensor<F>,
    grad_hidden_seq: &mut Tensor<F>,
    sizes: Sizes,
    #[comptime] rows: usize,
    #[comptime] projected: bool,
    #[comptime] masked: bool,
    #[comptime] with_output_grad: bool,
    #[comptime] with_cell_grad: bool,
    #[define(F)] _dtype: ElemType,
) {
    let first = CUBE_POS_X as usize * rows;
    let d = CUBE_POS_Y as usize;
    let directions = CUBE_COUNT_Y as usize;
    let unit = UNIT_POS_X as usize;
    let team = CUBE_DIM_X as usize;
    let steps = sizes.steps as usize;
    let batch = sizes.batch as usize;
    let batch_first = sizes.batch_first == 1;
    let hidden = sizes.hidden as usize;
    let hidden_out = sizes.hidden_out as usize;
    let gate_width = 4 * hidden;
    let row_width = directions * gate_width;
    let out_width = directions * hidden_out;
    let cell_width = directions * hidden;

    #[unroll]
    for r in 0..rows {
        let n = first + r;
        if n < batch {
            let state = d * batch + n;
            let mut j = unit;
            while j < hidden {
                let mut grad = F::new(0.0);
                if with_cell_grad {
                    grad = grad_cell_n[state * hidden + j];
                }
                grad_cell0[state * hidden + j] = grad;
                j += team;
            }
        }
    }

    // Per row: the sequence row of this step, and where the gates' gradient of the step after
    // it (in this direction's order, already written) starts.
    let mut current = Array::<u32>::new(rows);
    let mut following = Array::<u32>::new(rows);
    let mut sums = Array::<F>::new(rows);
    for q in 0..steps {
        let s = steps - 1 - q;
        #[unroll]
        for r in 0..rows {
            let n = first + r;
            let length = row_length::<F>(lengths, n, batch);
            let t = step_time(s, length, d);
            // A spare row past the batch points at row 0: its sums are dropped.
            let mut row = 0;
            if n < batch {
                row = sequence_row(t, n, steps, batch, batch_first);
            }
            current[r] = row as u32;
            let mut next = 0;
            if s + 1 < length {
                let mut next_time = t + 1;
                if d == 1 {
                    next_time = t - 1;
                }
                next = sequence_row(next_time, n, steps, batch, batch_first);
            }
            following[r] = (next * row_width + d * gate_width) as u32;
        }
        if projected {
            let mut k = unit;
            while k < hidden_out {
                recurrent_sums::<F>(
                    &mut sums,
                    &following,
                    k,
                    d,
                    gate_width,
                    hidden_out,
                    recurrent_t,
                    grad_gates,
                    rows,
                );
                #[unroll]
                for r in 0..rows {
                    let n = first + r;
                    let length = row_length::<F>(lengths, n, batch);
                    let row = current[r] as usize;
                    if s < length {
                        grad_hidden_seq[row * out_width + d * hidden_out + k] = hidden_gradient::<F>(
                            sums[r],
                            k,
                            s,
                            length,
                            row,
                            d * batch + n,
                            d,
                            out_width,
                            hidden_out,
                            mask,
                            grad_output,
                            grad_hidden_n,
                            masked,
                            with_output_grad,
                        );
                    } else if n < batch {
                        grad_hidden_seq[row * out_width + d * hidden_out + k] = F::new(0.0);
                    }
                }
                k += team;
            }
            sync_storage();
        }
        let mut j = unit;
        while j < hidden {
            // The gradient reaching o·tanh(c) of unit j, per row.
            if projected {
                #[unroll]
                for r in 0..rows {
                    sums[r] = F::new(0.0);
                }
                for k in 0..hidden_out {
                    let weight = projection[(d * hidden + j) * hidden_out + k];
                    #[unroll]
                    for r in 0..rows {
                        let from = current[r] as usize * out_width + d * hidden_out;
                        sums[r] += grad_hidden_seq[from + k] * weight;
                    }
                }
            } else {
                recurrent_sums::<F>(
                    &mut sums,
                    &following,
                    j,
                    d,
                    gate_width,
                    hidden_out,
                    recurrent_t,
                    grad_gates,
                    rows,
                );
            }
            #[unroll]
            for r in 0..rows {
                let n = first + r;
                let length = row_length::<F>(lengths, n, batch);
                if s < length {
                    let row = current[r] as usize;
                    let state = d * batch + n;
                    let mut grad_activation = sums[r];
                    if !projected {
                        grad_activation = hidden_gradient::<F>(
                            sums[r],
                            j,
                            s,
                            length,
                            row,
                            state,
                            d,
                            out_width,
                            hidden_out,
                            mask,
                            grad_output,
                            grad_hidden_n,
                            masked,
                            with_output_grad,
                        );
                    }
                    let base = row * row_width + d * gate_width + j;
                    let input_gate = gates[base];
                    let forget_gate = gates[base + hidden];
                    let output_gate = gates[base + 2 * hidden];
                    let cell_gate = gates[base + 3 * hidden];
                    let cell = cells[row * cell_width + d * hidden + j];
                    let mut cell_previous = cell0[state * hidden + j];
                    if s > 0 {
                        let previous = sequence_row(
                            previous_time(step_time(s, length, d), d),
                            n,
                            steps,
                            batch,
                            batch_first,
                        );
                        cell_previous = cells[previous * cell_width + d * hidden + j];
                    }
                    let one = F::new(1.0);
                    let tanh_cell = tanh::<F>(cell);
                    let grad_cell = grad_cell0[state * hidden + j]
                        + grad_activation * output_gate * (one - tanh_cell * tanh_cell);
                    grad_gates[base] = grad_cell * cell_gate * input_gate * (one - input_gate);
                    grad_gates[base + hidden] =
                        grad_cell * cell_previous * forget_gate * (one - forget_gate);
                    grad_gates[base + 2 * hidden] =
                        grad_activation * tanh_cell * output_gate * (one - output_gate);
                    grad_gates[base + 3 * hidden] =
                        grad_cell * input_gate * (one - cell_gate * cell_gate);
                    grad_cell0[state * hidden + j] = grad_cell * forget_gate;
                }
            }
            j += team;
        }
        #[unroll]
        for r in 0..rows {
            let n = first + r;
            let length = row_length::<F>(lengths, n, batch);
            if n < batch && s >= length {
                let row = current[r] as usize;
                let mut g = unit;
                while g < gate_width {
                    grad_gates[row * row_width + d * gate_width + g] = F::new(0.0);
                    g += team;
                }
            }
        }
        sync_storage();
    }

    // h0 entered each row's first step's product (after the mask).
    #[unroll]
    for r in 0..rows {
        let n = first + r;
        let length = row_length::<F>(lengths, n, batch);
        let mut start = 0;
        if d == 1 && n < batch {
            start = length - 1;
        }
        following[r] =
            (sequence_row(start, n, steps, batch, batch_first) * row_width + d * gate_width) as u32;
        if n >= batch {
            following[r] = (d * gate_width) as u32;
        }
    }
    let mut k = unit;
    while k < hidden_out {
        recurrent_sums::<F>(
            &mut sums,
            &following,
            k,
            d,
            gate_width,
            hidden_out,
            recurrent_t,
            grad_gates,
            rows,
        );
        #[unroll]
        for r in 0..rows {
            let n = first + r;
            if n < batch {
                let state = d * batch + n;
                let mut sum = sums[r];
                if masked {
                    sum *= mask[state * hidden_out + k];
                }
                grad_hidden0[state * hidden_out + k] = sum;
            }
        }
        k += team;
    }
}
