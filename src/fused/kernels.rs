//! The recurrence of one layer as two CubeCL kernels, forward and backward, each launched
//! once per layer call (see [`super::cube`] for the rest of the layer around them).
//!
//! One cube runs one batch row of one direction through the whole sequence: its units share
//! out the hidden units `j` (each computes the four gates of its `j`, so the cell state of a
//! unit never leaves it), and a storage barrier between steps publishes `h_t` before any unit
//! reads it. Nothing is launched per step, and every buffer is visited once per step: the
//! work is linear in the sequence length.
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

/// Forward through the whole sequence: cube `(n, d)` runs batch row `n` in direction `d`.
///
/// With `train`, keeps the activated gates, the cell states and the hidden states that
/// entered the recurrent product (after the mask); with `projected`, `activated` holds
/// `o·tanh(c)` (all steps in training, else this step's only, as `[D, N, H]`).
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
    #[comptime] staged_len: usize,
    #[comptime] train: bool,
    #[comptime] projected: bool,
    #[comptime] masked: bool,
    #[define(F)] _dtype: ElemType,
) {
    let n = CUBE_POS_X as usize;
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
    // This row's place in `[D, N, ·]`.
    let state = d * batch + n;
    let length = u32::cast_from(lengths[n]) as usize;

    // h_{t-1} after the mask, read by every unit at every step: staged in shared memory.
    let mut staged = Shared::<[F]>::new_slice(staged_len);
    for s in 0..steps {
        let t = step_time(s, length, d);
        let r = sequence_row(t, n, steps, batch, batch_first);
        if s < length {
            // Where h_{t-1} is: the initial state, or the output of the previous step.
            let mut previous = 0;
            if s > 0 {
                previous = sequence_row(previous_time(t, d), n, steps, batch, batch_first);
            }
            let mut k = unit;
            while k < hidden_out {
                let mut h = hidden0[state * hidden_out + k];
                if s > 0 {
                    h = output[previous * out_width + d * hidden_out + k];
                }
                if masked {
                    h *= mask[state * hidden_out + k];
                }
                staged[k] = h;
                if train {
                    entered[r * out_width + d * hidden_out + k] = h;
                }
                k += team;
            }
        }
        sync_cube();
        if s < length {
            let mut j = unit;
            while j < hidden {
                let base = r * row_width + d * gate_width + j;
                let mut input_gate = gates_x[base];
                let mut forget_gate = gates_x[base + hidden];
                let mut output_gate = gates_x[base + 2 * hidden];
                let mut cell_gate = gates_x[base + 3 * hidden];
                for k in 0..hidden_out {
                    let h = staged[k];
                    let w = k * row_width + d * gate_width + j;
                    input_gate += h * recurrent[w];
                    forget_gate += h * recurrent[w + hidden];
                    output_gate += h * recurrent[w + 2 * hidden];
                    cell_gate += h * recurrent[w + 3 * hidden];
                }
                let input_gate = sigmoid::<F>(input_gate);
                let forget_gate = sigmoid::<F>(forget_gate);
                let output_gate = sigmoid::<F>(output_gate);
                let cell_gate = tanh::<F>(cell_gate);
                let mut cell_previous = cell0[state * hidden + j];
                if s > 0 {
                    cell_previous = cell_n[state * hidden + j];
                }
                let cell = forget_gate * cell_previous + input_gate * cell_gate;
                cell_n[state * hidden + j] = cell;
                let activation = output_gate * tanh::<F>(cell);
                if projected {
                    if train {
                        activated[r * cell_width + d * hidden + j] = activation;
                    } else {
                        activated[state * hidden + j] = activation;
                    }
                } else {
                    output[r * out_width + d * hidden_out + j] = activation;
                }
                if train {
                    gates[base] = input_gate;
                    gates[base + hidden] = forget_gate;
                    gates[base + 2 * hidden] = output_gate;
                    gates[base + 3 * hidden] = cell_gate;
                    cells[r * cell_width + d * hidden + j] = cell;
                }
                j += team;
            }
        } else {
            // Padding: zero in every sequence buffer this row owns at time t.
            let mut k = unit;
            while k < hidden_out {
                output[r * out_width + d * hidden_out + k] = F::new(0.0);
                if train {
                    entered[r * out_width + d * hidden_out + k] = F::new(0.0);
                }
                k += team;
            }
            if train {
                let mut j = unit;
                while j < hidden {
                    cells[r * cell_width + d * hidden + j] = F::new(0.0);
                    if projected {
                        activated[r * cell_width + d * hidden + j] = F::new(0.0);
                    }
                    j += team;
                }
                let mut g = unit;
                while g < gate_width {
                    gates[r * row_width + d * gate_width + g] = F::new(0.0);
                    g += team;
                }
            }
        }
        if projected {
            // h_t = (o·tanh c)·W_hr needs every unit's o·tanh c.
            sync_storage();
            if s < length {
                let mut source = state * hidden;
                if train {
                    source = r * cell_width + d * hidden;
                }
                let mut k = unit;
                while k < hidden_out {
                    let mut sum = F::new(0.0);
                    for j in 0..hidden {
                        sum +=
                            activated[source + j] * projection[(d * hidden + j) * hidden_out + k];
                    }
                    output[r * out_width + d * hidden_out + k] = sum;
                    k += team;
                }
            }
        }
        sync_storage();
    }

    // The final hidden state: the output at the row's last real step in this direction.
    let mut last = 0;
    if d == 0 {
        last = length - 1;
    }
    let r = sequence_row(last, n, steps, batch, batch_first);
    let mut k = unit;
    while k < hidden_out {
        hidden_n[state * hidden_out + k] = output[r * out_width + d * hidden_out + k];
        k += team;
    }
}

/// The gradient reaching `h_t` (unit `k`) at step `s` of row `r`: the output's gradient,
/// the final state's at the last real step, and otherwise what the next step's gates send
/// back through `W_h` (and the mask).
#[cube]
#[allow(clippy::too_many_arguments)]
fn hidden_gradient<F: Float>(
    k: usize,
    s: usize,
    r: usize,
    next: usize,
    length: usize,
    state: usize,
    d: usize,
    row_width: usize,
    out_width: usize,
    hidden_out: usize,
    gate_width: usize,
    recurrent_t: &Tensor<F>,
    mask: &Tensor<F>,
    grad_output: &Tensor<F>,
    grad_hidden_n: &Tensor<F>,
    grad_gates: &mut Tensor<F>,
    #[comptime] masked: bool,
    #[comptime] with_output_grad: bool,
) -> F {
    let mut grad = F::new(0.0);
    if with_output_grad {
        grad = grad_output[r * out_width + d * hidden_out + k];
    }
    if s + 1 == length {
        grad += grad_hidden_n[state * hidden_out + k];
    } else {
        let mut sum = F::new(0.0);
        let from = next * row_width + d * gate_width;
        let weights = d * gate_width * hidden_out + k;
        for g in 0..gate_width {
            sum += grad_gates[from + g] * recurrent_t[weights + g * hidden_out];
        }
        if masked {
            sum *= mask[state * hidden_out + k];
        }
        grad += sum;
    }
    grad
}

/// Backward through the whole sequence, in reverse step order: cube `(n, d)` as forward.
///
/// Writes the gates' pre-activation gradient at every step (zero at padding), the initial
/// state's gradients, and with `projected` the hidden state's gradient at every step (for
/// `W_hr`'s gradient). `grad_cell0` carries the cell gradient from step to step.
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
    #[comptime] projected: bool,
    #[comptime] masked: bool,
    #[comptime] with_output_grad: bool,
    #[comptime] with_cell_grad: bool,
    #[define(F)] _dtype: ElemType,
) {
    let n = CUBE_POS_X as usize;
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
    let state = d * batch + n;
    let length = u32::cast_from(lengths[n]) as usize;

    let mut j = unit;
    while j < hidden {
        let mut grad = F::new(0.0);
        if with_cell_grad {
            grad = grad_cell_n[state * hidden + j];
        }
        grad_cell0[state * hidden + j] = grad;
        j += team;
    }

    for q in 0..steps {
        let s = steps - 1 - q;
        let t = step_time(s, length, d);
        let r = sequence_row(t, n, steps, batch, batch_first);
        // The row of the step after this one (in this direction's order), whose gates'
        // gradient is already written.
        let mut next = 0;
        if s + 1 < length {
            let mut next_time = t + 1;
            if d == 1 {
                next_time = t - 1;
            }
            next = sequence_row(next_time, n, steps, batch, batch_first);
        }
        if projected {
            let mut k = unit;
            while k < hidden_out {
                let mut grad = F::new(0.0);
                if s < length {
                    grad = hidden_gradient::<F>(
                        k,
                        s,
                        r,
                        next,
                        length,
                        state,
                        d,
                        row_width,
                        out_width,
                        hidden_out,
                        gate_width,
                        recurrent_t,
                        mask,
                        grad_output,
                        grad_hidden_n,
                        grad_gates,
                        masked,
                        with_output_grad,
                    );
                }
                grad_hidden_seq[r * out_width + d * hidden_out + k] = grad;
                k += team;
            }
            sync_storage();
        }
        if s < length {
            let mut previous = 0;
            if s > 0 {
                previous = sequence_row(previous_time(t, d), n, steps, batch, batch_first);
            }
            let mut j = unit;
            while j < hidden {
                // The gradient reaching o·tanh(c) of unit j.
                let mut grad_activation = F::new(0.0);
                if projected {
                    for k in 0..hidden_out {
                        grad_activation += grad_hidden_seq[r * out_width + d * hidden_out + k]
                            * projection[(d * hidden + j) * hidden_out + k];
                    }
                } else {
                    grad_activation = hidden_gradient::<F>(
                        j,
                        s,
                        r,
                        next,
                        length,
                        state,
                        d,
                        row_width,
                        out_width,
                        hidden_out,
                        gate_width,
                        recurrent_t,
                        mask,
                        grad_output,
                        grad_hidden_n,
                        grad_gates,
                        masked,
                        with_output_grad,
                    );
                }
                let base = r * row_width + d * gate_width + j;
                let input_gate = gates[base];
                let forget_gate = gates[base + hidden];
                let output_gate = gates[base + 2 * hidden];
                let cell_gate = gates[base + 3 * hidden];
                let cell = cells[r * cell_width + d * hidden + j];
                let mut cell_previous = cell0[state * hidden + j];
                if s > 0 {
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
                j += team;
            }
        } else {
            let mut g = unit;
            while g < gate_width {
                grad_gates[r * row_width + d * gate_width + g] = F::new(0.0);
                g += team;
            }
        }
        sync_storage();
    }

    // h0 entered the first step's product (after the mask).
    let mut first = 0;
    if d == 1 {
        first = length - 1;
    }
    let r = sequence_row(first, n, steps, batch, batch_first);
    let mut k = unit;
    while k < hidden_out {
        let mut sum = F::new(0.0);
        for g in 0..gate_width {
            sum += grad_gates[r * row_width + d * gate_width + g]
                * recurrent_t[(d * gate_width + g) * hidden_out + k];
        }
        if masked {
            sum *= mask[state * hidden_out + k];
        }
        grad_hidden0[state * hidden_out + k] = sum;
        k += team;
    }
}
