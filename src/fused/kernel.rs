//! The host-side arithmetic of one fused LSTM step and of its backward pass, for CPU
//! backends: the step's products go through the `gemm` crate (the kernels burn-flex uses),
//! the gates are one pass over memory.
//!
//! Layouts (row-major), with `T` steps, `D` directions, `N` batch rows, `H` hidden units and
//! `G = 4H` gate rows ordered input, forget, output, cell candidate:
//! - layer input `x`: `[T, N, F]`; input weights `W_x`: `[F, D·G]`; biases `[D·G]`
//! - input projection `xp = x·W_x + b`: `[D, T·N, G]` (direction-major, time order within)
//! - recurrent weights `w`: `[D, H, G]`
//! - packed state: `[D, N, 2H]`, the hidden state then the cell state of every row
//! - direction `d` reaches time `s` at step `s` (forward) or `T − 1 − s` (reverse)

use std::sync::Arc;

use gemm::{Parallelism, gemm};
use num_traits::Float;
use rayon::prelude::*;

use super::fastmath;

/// The element types the fused kernels run in, with their activations: f32 uses the
/// vectorisable approximations of [`super::fastmath`], f64 the exact libm functions.
pub(crate) trait Elem: Float + burn::tensor::Element + Send + Sync + 'static {
    fn sigmoid(self) -> Self;
    fn tanh_activation(self) -> Self;
    fn exp_activation(self) -> Self;
}

impl Elem for f32 {
    #[inline(always)]
    fn sigmoid(self) -> Self {
        fastmath::sigmoid_f32(self)
    }
    #[inline(always)]
    fn tanh_activation(self) -> Self {
        fastmath::tanh_f32(self)
    }
    #[inline(always)]
    fn exp_activation(self) -> Self {
        fastmath::exp_f32(self)
    }
}

impl Elem for f64 {
    #[inline(always)]
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + (-self).exp())
    }
    #[inline(always)]
    fn tanh_activation(self) -> Self {
        self.tanh()
    }
    #[inline(always)]
    fn exp_activation(self) -> Self {
        self.exp()
    }
}

/// Defines `$name`, running `body` compiled for AVX-512 where the CPU has it (the row loops
/// vectorise sixteen f32 lanes wide there), else as portable code.
macro_rules! with_widest_simd {
    ($name:ident<$e:ident>($($arg:ident: $ty:ty),*) $body:block) => {
        pub(crate) fn $name<$e: Elem>($($arg: $ty),*) {
            #[inline(always)]
            fn portable<$e: Elem>($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
            unsafe fn wide<$e: Elem>($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            if fastmath::avx512() {
                // SAFETY: the CPU has the features `wide` was compiled for.
                return unsafe { wide::<$e>($($arg),*) };
            }
            portable::<$e>($($arg),*)
        }
    };
}

/// Sizes of one layer's recurrence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dims {
    pub steps: usize,
    pub directions: usize,
    pub batch: usize,
    pub hidden: usize,
    /// Features of the layer's input.
    pub features: usize,
}

impl Dims {
    pub(crate) fn gates(&self) -> usize {
        4 * self.hidden
    }

    /// The time direction `d` reaches at `step`.
    pub(crate) fn time(&self, direction: usize, step: usize) -> usize {
        if direction == 0 {
            step
        } else {
            self.steps - 1 - step
        }
    }

    /// Elements of a packed state `[D, N, 2H]`.
    pub(crate) fn state_len(&self) -> usize {
        self.directions * self.batch * 2 * self.hidden
    }

    /// Elements of a step's gate block `[D, N, G]`.
    pub(crate) fn gates_len(&self) -> usize {
        self.directions * self.batch * self.gates()
    }

    /// Rows of the input projection, `T·N`, each `D·G` wide.
    fn projection_rows(&self) -> usize {
        self.steps * self.batch
    }

    /// How many row blocks a step's work is cut into: one per core when the step is big
    /// enough to pay for the hand-over, else one.
    fn blocks(&self) -> usize {
        let rows = self.directions * self.batch;
        let work = rows * self.gates() * self.hidden;
        if work < 1 << 17 || rows < 2 {
            1
        } else {
            rayon::current_num_threads().min(rows).max(1)
        }
    }
}

fn parallelism(m: usize, n: usize, k: usize) -> Parallelism {
    // Threads pay off only on products of some size.
    if m * n * k >= 1 << 20 {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    }
}

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]` with explicit row and column strides. `threads`
/// lets gemm split a big product over the cores.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul<E: Elem>(
    dst: &mut [E],
    dst_row: usize,
    accumulate: bool,
    lhs: &[E],
    (lhs_row, lhs_col): (usize, usize),
    rhs: &[E],
    (rhs_row, rhs_col): (usize, usize),
    (m, n, k): (usize, usize, usize),
    threads: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        dst.len() >= (m - 1) * dst_row + n,
        "matmul destination too small"
    );
    if k > 0 {
        assert!(
            lhs.len() > (m - 1) * lhs_row + (k - 1) * lhs_col,
            "matmul lhs too small"
        );
        assert!(
            rhs.len() > (k - 1) * rhs_row + (n - 1) * rhs_col,
            "matmul rhs too small"
        );
    }
    let parallelism = if threads {
        parallelism(m, n, k)
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above keep every index the strides produce inside the slices, and
    // `dst` does not alias the inputs (it is borrowed mutably).
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_row as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_col as isize,
            lhs_row as isize,
            rhs.as_ptr(),
            rhs_col as isize,
            rhs_row as isize,
            E::one(),
            E::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// The input part of every gate's pre-activation for all steps at once, direction by
/// direction: `xp[d] = x · W_x[:, d] + b[d]`, `[D, T·N, G]` (time order within a direction).
///
/// - `input`: `[T, N, F]`; `input_weights`: `[F, D·G]`; `bias`: `[D·G]`
pub(crate) fn input_projection<E: Elem>(
    dims: Dims,
    input: &[E],
    input_weights: &[E],
    bias: &[E],
) -> Vec<E> {
    let width = dims.gates();
    let rows = dims.projection_rows();
    let mut xp = Vec::with_capacity(dims.directions * rows * width);
    for d in 0..dims.directions {
        for _ in 0..rows {
            xp.extend_from_slice(&bias[d * width..(d + 1) * width]);
        }
    }
    for d in 0..dims.directions {
        matmul(
            &mut xp[d * rows * width..],
            width,
            true,
            input,
            (dims.features, 1),
            &input_weights[d * width..],
            (dims.directions * width, 1),
            (rows, width, dims.features),
            true,
        );
    }
    xp
}

/// Offset of row `b` at time `t` of direction `d` in a `[D, T·N, width]` buffer.
fn time_row(dims: Dims, d: usize, time: usize, b: usize, width: usize) -> usize {
    ((d * dims.steps + time) * dims.batch + b) * width
}

/// What the backward pass of a step needs from its forward pass.
#[derive(Debug)]
pub(crate) struct StepActivations<E> {
    /// `[D, N, G]`: the activated gates i, f, o, g.
    pub gates: Vec<E>,
    /// `[D, N, H]`: tanh of the new cell state.
    pub tanh_cell: Vec<E>,
    /// `[D, N, 2H]`: the packed state the step started from.
    pub previous: Arc<Vec<E>>,
}

/// The rows `first..first + count` of a `[D·N]` row range, cut where the direction changes:
/// `(direction, start row, end row)`.
fn direction_runs(
    first: usize,
    count: usize,
    batch: usize,
) -> impl Iterator<Item = (usize, usize, usize)> {
    let end = first + count;
    std::iter::successors(Some(first), move |&row| {
        let next = (row / batch + 1) * batch;
        (next < end).then_some(next)
    })
    .map(move |row| (row / batch, row, ((row / batch + 1) * batch).min(end)))
}

/// Splits `rows` rows into `blocks` contiguous runs: `(first row, row count)`.
fn row_blocks(rows: usize, blocks: usize) -> Vec<(usize, usize)> {
    let per_block = rows.div_ceil(blocks.max(1));
    (0..rows)
        .step_by(per_block.max(1))
        .map(|start| (start, per_block.min(rows - start)))
        .collect()
}

/// One step: the new packed state from the previous one.
///
/// - `xp`: the whole input projection; `weights`: the recurrent weights
/// - `previous`: `[D, N, 2H]`
pub(crate) fn step_forward<E: Elem>(
    dims: Dims,
    step: usize,
    xp: &[E],
    weights: &[E],
    previous: Arc<Vec<E>>,
) -> (Vec<E>, StepActivations<E>) {
    let Dims {
        directions,
        batch,
        hidden,
        ..
    } = dims;
    let width = dims.gates();
    let mut gates = vec![E::zero(); dims.gates_len()];
    let mut next = vec![E::zero(); dims.state_len()];
    let mut tanh_cell = vec![E::zero(); directions * batch * hidden];
    let blocks = row_blocks(directions * batch, dims.blocks());
    let per_block = blocks[0].1;
    let work = |first: usize, gates: &mut [E], next: &mut [E], tanh_cell: &mut [E]| {
        let count = gates.len() / width;
        for (d, row, end) in direction_runs(first, count, batch) {
            let time = dims.time(d, step);
            for r in row..end {
                let source = time_row(dims, d, time, r - d * batch, width);
                gates[(r - first) * width..(r - first + 1) * width]
                    .copy_from_slice(&xp[source..source + width]);
            }
            // gates += h · W[d]
            matmul(
                &mut gates[(row - first) * width..],
                width,
                true,
                &previous[row * 2 * hidden..],
                (2 * hidden, 1),
                &weights[d * hidden * width..],
                (width, 1),
                (end - row, width, hidden),
                false,
            );
        }
        forward_rows(
            gates,
            &previous[first * 2 * hidden..(first + count) * 2 * hidden],
            next,
            tanh_cell,
            hidden,
        );
    };
    if blocks.len() == 1 {
        work(0, &mut gates, &mut next, &mut tanh_cell);
    } else {
        gates
            .par_chunks_mut(per_block * width)
            .zip(next.par_chunks_mut(per_block * 2 * hidden))
            .zip(tanh_cell.par_chunks_mut(per_block * hidden))
            .enumerate()
            .for_each(|(block, ((gates, next), tanh_cell))| {
                work(block * per_block, gates, next, tanh_cell)
            });
    }
    (
        next,
        StepActivations {
            gates,
            tanh_cell,
            previous,
        },
    )
}

/// The backward pass of one step. `transposed_weights` are the recurrent weights as
/// `[D, G, H]` (see [`transpose_weights`]), so the product reads them row by row.
///
/// `grad_next`: `[D, N, 2H]`, the gradient of the packed state the step produced. Returns
/// the gradient of the gates' pre-activations `[D, N, G]` and of the packed state the step
/// started from `[D, N, 2H]`.
pub(crate) fn step_backward<E: Elem>(
    dims: Dims,
    transposed_weights: &[E],
    saved: &StepActivations<E>,
    grad_next: &[E],
) -> (Vec<E>, Vec<E>) {
    let Dims {
        directions,
        batch,
        hidden,
        ..
    } = dims;
    let width = dims.gates();
    let mut grad_gates = vec![E::zero(); dims.gates_len()];
    let mut grad_previous = vec![E::zero(); dims.state_len()];
    let blocks = row_blocks(directions * batch, dims.blocks());
    let per_block = blocks[0].1;
    let work = |first: usize, grad_gates: &mut [E], grad_previous: &mut [E]| {
        let count = grad_gates.len() / width;
        let range = |size: usize| first * size..(first + count) * size;
        backward_rows(
            &saved.gates[range(width)],
            &saved.tanh_cell[range(hidden)],
            &saved.previous[range(2 * hidden)],
            &grad_next[range(2 * hidden)],
            grad_gates,
            grad_previous,
            hidden,
        );
        // dh_prev = dz · W[d]ᵀ, direction by direction
        for (d, row, end) in direction_runs(first, count, batch) {
            matmul(
                &mut grad_previous[(row - first) * 2 * hidden..],
                2 * hidden,
                false,
                &grad_gates[(row - first) * width..],
                (width, 1),
                &transposed_weights[d * width * hidden..],
                (hidden, 1),
                (end - row, hidden, width),
                false,
            );
        }
    };
    if blocks.len() == 1 {
        work(0, &mut grad_gates, &mut grad_previous);
    } else {
        grad_gates
            .par_chunks_mut(per_block * width)
            .zip(grad_previous.par_chunks_mut(per_block * 2 * hidden))
            .enumerate()
            .for_each(|(block, (grad_gates, grad_previous))| {
                work(block * per_block, grad_gates, grad_previous)
            });
    }
    (grad_gates, grad_previous)
}

/// `[D, H, G]` → `[D, G, H]`.
pub(crate) fn transpose_weights<E: Elem>(dims: Dims, weights: &[E]) -> Vec<E> {
    let (hidden, width) = (dims.hidden, dims.gates());
    let mut transposed = vec![E::zero(); weights.len()];
    for d in 0..dims.directions {
        let (source, target) = (d * hidden * width, d * width * hidden);
        for k in 0..hidden {
            for j in 0..width {
                transposed[target + j * hidden + k] = weights[source + k * width + j];
            }
        }
    }
    transposed
}

/// The gradients the steps gather (see [`super`]).
pub(crate) struct LayerGradients<E> {
    /// `[T, N, F]`, when the input wants one.
    pub input: Option<Vec<E>>,
    /// `[F, D·G]`, when the input weights want one.
    pub input_weights: Option<Vec<E>>,
    /// `[D·G]`
    pub bias: Vec<E>,
    /// `[D, H, G]`
    pub weights: Vec<E>,
}

/// The steps' shares of the layer gradients, kept in the layout of the input projection:
/// direction-major, time order (a step that the loss did not reach leaves zeros).
#[derive(Debug)]
pub(crate) struct GatheredSteps<E> {
    /// `[D, T·N, G]`: the gates' pre-activation gradients, which are the input projection's.
    pub grad_gates: Vec<E>,
    /// `[D, T·N, H]`: the hidden state each step started from.
    pub hidden: Vec<E>,
}

impl<E: Elem> GatheredSteps<E> {
    pub(crate) fn new(dims: Dims) -> Self {
        let rows = dims.directions * dims.projection_rows();
        Self {
            grad_gates: vec![E::zero(); rows * dims.gates()],
            hidden: vec![E::zero(); rows * dims.hidden],
        }
    }

    /// Files step `step`'s gate gradient `[D, N, G]` and starting state `[D, N, 2H]`.
    pub(crate) fn add(&mut self, dims: Dims, step: usize, grad_gates: &[E], previous: &[E]) {
        let (width, hidden) = (dims.gates(), dims.hidden);
        for d in 0..dims.directions {
            let time = dims.time(d, step);
            for b in 0..dims.batch {
                let row = d * dims.batch + b;
                let target = time_row(dims, d, time, b, width);
                self.grad_gates[target..target + width]
                    .copy_from_slice(&grad_gates[row * width..(row + 1) * width]);
                let target = time_row(dims, d, time, b, hidden);
                self.hidden[target..target + hidden]
                    .copy_from_slice(&previous[row * 2 * hidden..row * 2 * hidden + hidden]);
            }
        }
    }
}

/// The gradients of the input, the input weights, the biases and the recurrent weights from
/// the gathered steps: each one or two products over all steps and rows, read in place.
///
/// `input` and `input_weights` are the forward pass's, present when the other wants a
/// gradient (dW_x needs x, dx needs W_x).
pub(crate) fn layer_gradients<E: Elem>(
    dims: Dims,
    gathered: &GatheredSteps<E>,
    input: Option<&[E]>,
    input_weights: Option<&[E]>,
) -> LayerGradients<E> {
    let Dims {
        directions,
        hidden,
        features,
        ..
    } = dims;
    let width = dims.gates();
    let rows = dims.projection_rows();
    // Direction d's rows of the gathered gate gradients and starting hidden states.
    let gates = |d: usize| &gathered.grad_gates[d * rows * width..(d + 1) * rows * width];
    let states = |d: usize| &gathered.hidden[d * rows * hidden..(d + 1) * rows * hidden];
    let mut bias = vec![E::zero(); directions * width];
    for d in 0..directions {
        for row in gates(d).chunks_exact(width) {
            for (sum, &g) in bias[d * width..(d + 1) * width].iter_mut().zip(row) {
                *sum = *sum + g;
            }
        }
    }
    // dx = Σ_d dxp[d] · W_x[:, d]ᵀ
    let grad_input = input_weights.map(|w| {
        let mut dx = vec![E::zero(); rows * features];
        for d in 0..directions {
            matmul(
                &mut dx,
                features,
                d > 0,
                gates(d),
                (width, 1),
                &w[d * width..],
                (1, directions * width),
                (rows, features, width),
                true,
            );
        }
        dx
    });
    // dW_x[:, d] = xᵀ · dxp[d]
    let grad_input_weights = input.map(|x| {
        let mut dw = vec![E::zero(); features * directions * width];
        for d in 0..directions {
            matmul(
                &mut dw[d * width..],
                directions * width,
                false,
                x,
                (1, features),
                gates(d),
                (width, 1),
                (features, width, rows),
                true,
            );
        }
        dw
    });
    // dW_h[d] = Σ_steps h_prev[d]ᵀ · dz[d]
    let mut grad_weights = vec![E::zero(); directions * hidden * width];
    for d in 0..directions {
        matmul(
            &mut grad_weights[d * hidden * width..],
            width,
            false,
            states(d),
            (1, hidden),
            gates(d),
            (width, 1),
            (hidden, width, rows),
            true,
        );
    }
    LayerGradients {
        input: grad_input,
        input_weights: grad_input_weights,
        bias,
        weights: grad_weights,
    }
}

with_widest_simd!(forward_rows<E>(gates: &mut [E], previous: &[E], next: &mut [E], tanh_cell: &mut [E], hidden: usize) {
    let width = 4 * hidden;
    for (row, z) in gates.chunks_exact_mut(width).enumerate() {
        for value in &mut z[..3 * hidden] {
            *value = value.sigmoid();
        }
        for value in &mut z[3 * hidden..] {
            *value = value.tanh_activation();
        }
        let (i, rest) = z.split_at(hidden);
        let (f, rest) = rest.split_at(hidden);
        let (o, g) = rest.split_at(hidden);
        let c_prev = &previous[row * 2 * hidden + hidden..(row + 1) * 2 * hidden];
        let (h_next, c_next) = next[row * 2 * hidden..(row + 1) * 2 * hidden].split_at_mut(hidden);
        let tanh_row = &mut tanh_cell[row * hidden..(row + 1) * hidden];
        for k in 0..hidden {
            let cell = f[k] * c_prev[k] + i[k] * g[k];
            let tanh = cell.tanh_activation();
            c_next[k] = cell;
            tanh_row[k] = tanh;
            h_next[k] = o[k] * tanh;
        }
    }
});

with_widest_simd!(backward_rows<E>(gates: &[E], tanh_cell: &[E], previous: &[E], grad_next: &[E], grad_gates: &mut [E], grad_previous: &mut [E], hidden: usize) {
    let one = E::one();
    let width = 4 * hidden;
    for (row, dz) in grad_gates.chunks_exact_mut(width).enumerate() {
        let a = &gates[row * width..(row + 1) * width];
        let (i, rest) = a.split_at(hidden);
        let (f, rest) = rest.split_at(hidden);
        let (o, g) = rest.split_at(hidden);
        let tanh = &tanh_cell[row * hidden..(row + 1) * hidden];
        let (dh, dc_next) = grad_next[row * 2 * hidden..(row + 1) * 2 * hidden].split_at(hidden);
        let c_prev = &previous[row * 2 * hidden + hidden..(row + 1) * 2 * hidden];
        let dc_prev = &mut grad_previous[row * 2 * hidden + hidden..(row + 1) * 2 * hidden];
        let (dz_i, rest) = dz.split_at_mut(hidden);
        let (dz_f, rest) = rest.split_at_mut(hidden);
        let (dz_o, dz_g) = rest.split_at_mut(hidden);
        for k in 0..hidden {
            let dc = dc_next[k] + dh[k] * o[k] * (one - tanh[k] * tanh[k]);
            dz_i[k] = dc * g[k] * i[k] * (one - i[k]);
            dz_f[k] = dc * c_prev[k] * f[k] * (one - f[k]);
            dz_o[k] = dh[k] * tanh[k] * o[k] * (one - o[k]);
            dz_g[k] = dc * i[k] * (one - g[k] * g[k]);
            dc_prev[k] = dc * f[k];
        }
    }
});

with_widest_simd!(log_sum_exp_row<E>(logits: &[E], scratch: &mut [E], out: &mut E) {
    // Sixteen running maxima and sums, so the reductions vectorise.
    let mut maxima = [E::neg_infinity(); 16];
    let mut chunks = logits.chunks_exact(16);
    for chunk in &mut chunks {
        for (lane, &v) in maxima.iter_mut().zip(chunk) {
            *lane = if v > *lane { v } else { *lane };
        }
    }
    let max = chunks.remainder().iter().chain(&maxima).fold(E::neg_infinity(), |m, &v| if v > m { v } else { m });
    for (e, &v) in scratch.iter_mut().zip(logits) {
        *e = (v - max).exp_activation();
    }
    let mut lanes = [E::zero(); 16];
    let mut chunks = scratch.chunks_exact(16);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = *lane + v;
        }
    }
    let tail = chunks.remainder().iter().fold(E::zero(), |a, &v| a + v);
    let sum = lanes.iter().fold(tail, |a, &v| a + v);
    *out = max + sum.ln();
});

with_widest_simd!(softmax_gradient_row<E>(row: &mut [E], log_sum_exp: E, scale: E) {
    for v in row.iter_mut() {
        *v = (*v - log_sum_exp).exp_activation() * scale;
    }
});
