//! A fused output layer and cross-entropy for language models on the CPU backends:
//! `mean_n −log softmax(x_n·W + b)[t_n]` in one operation, with its own backward node; and the
//! output layer alone, `x·W + b`, for callers that take no gradient (generation).
//!
//! burn's own path materialises the logits, their log-softmax (a libm `exp` per logit) and
//! the gradient of each as separate `[N, vocab]` tensors; with a 10 000-word vocabulary that
//! is most of a training step. Here the logits are made once, the softmax uses the vectorised
//! `exp`, and the backward pass turns them straight into the three gradients.

// burn-ndarray is deprecated in burn 0.22 but remains a supported backend of this crate.
#![allow(deprecated)]

use std::sync::Arc;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{
    Autodiff, Backend, Dispatch, TensorMetadata, backend_extension, tensor::FloatTensor,
};
use burn::prelude::*;
use burn::tensor::DType;

#[cfg(feature = "flex")]
use burn::backend::Flex;
#[cfg(feature = "ndarray")]
use burn::backend::NdArray;

use crate::cpu::CpuKernel;
use crate::cpu::elem::{Elem, matmul};
use crate::cpu::planner::{run_timed_by_calls_handicapped, size_class};
use crate::cpu::pool::{self, Pooled};
use crate::cpu::softmax::{log_sum_exp_row, softmax_gradient_row};
use crate::cpu::stream::{FewRows, few_rows_product};
use crate::cpu::tensors::{HostTensors, HostValues, from_host, to_host};
use crate::fused::host::gates::elementwise_kernel;
use rayon::prelude::*;

/// Rows of logits one task of the thread pool takes at a time.
const ROWS_PER_TASK: usize = 16;

/// The targets of a fused cross-entropy, and how its weight is laid out.
#[derive(Clone, Debug)]
pub struct Targets {
    /// `[N]` target indices.
    pub indices: Arc<Vec<usize>>,
    /// Rows whose target is this index do not count (padding).
    pub ignore: Option<usize>,
    /// The weight is `[vocab, F]` (an embedding matrix, tied) instead of `[F, vocab]`.
    pub transposed: bool,
}

/// Sizes: `N` rows of `F` features, `V` classes.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    rows: usize,
    features: usize,
    classes: usize,
}

impl Sizes {
    fn of<B: Backend>(features: &FloatTensor<B>, bias: &FloatTensor<B>) -> Self {
        let shape = features.shape();
        Self {
            rows: shape[0],
            features: shape[1],
            classes: bias.shape()[0],
        }
    }

    /// `(row, column)` strides of the weight read as `[F, V]`.
    fn weight_strides(&self, transposed: bool) -> (usize, usize) {
        if transposed {
            (1, self.features)
        } else {
            (self.classes, 1)
        }
    }
}

/// Host-side forward: the logits (kept for backward), each row's log-sum-exp, the mean loss.
struct Forward<E> {
    /// Kept between steps ([`pool`]): 16 MB for a batch of 400 rows over 10 000 words.
    logits: Pooled<E>,
    log_sum_exp: Vec<E>,
    counted: usize,
    loss: E,
}

fn forward_host<E: Elem>(
    sizes: Sizes,
    features: &[E],
    weight: &[E],
    bias: &[E],
    targets: &Targets,
) -> Forward<E> {
    let Sizes {
        rows,
        features: width,
        classes,
    } = sizes;
    // Every logit is written (its bias) before it is read: no clearing.
    let mut logits = pool::reused::<E>(rows * classes);
    for row in logits.chunks_exact_mut(classes) {
        row.copy_from_slice(bias);
    }
    matmul(
        &mut logits,
        classes,
        true,
        features,
        (width, 1),
        weight,
        sizes.weight_strides(targets.transposed),
        (rows, classes, width),
        true,
    );
    // Each row's log-sum-exp, rows shared out over the cores.
    let kernel = elementwise_kernel::<E>();
    let mut log_sum_exp = vec![E::zero(); rows];
    logits
        .par_chunks(classes)
        .zip(log_sum_exp.par_iter_mut())
        .with_min_len(ROWS_PER_TASK)
        .for_each_init(
            || vec![E::zero(); classes],
            |scratch, (logits, out)| *out = log_sum_exp_row(kernel, logits, scratch),
        );
    let (mut total, mut counted) = (E::zero(), 0usize);
    for (row, logits) in logits.chunks_exact(classes).enumerate() {
        let target = targets.indices[row];
        if Some(target) != targets.ignore {
            total = total + log_sum_exp[row] - logits[target];
            counted += 1;
        }
    }
    let loss = if counted == 0 {
        E::zero()
    } else {
        total / E::from(counted).expect("a count")
    };
    Forward {
        logits,
        log_sum_exp,
        counted,
        loss,
    }
}

/// Rows below which the output layer splits its columns in blocks itself.
const FEW_ROWS: usize = 16;

/// Where the few-row logits' column blocks run: all on the calling thread, or one a core.
const BLOCK_WAYS: &[&str] = &["one thread", "over the cores"];
/// The cores must halve the call's time on trial. On an AMD Zen 4 (2 cores) the trial's
/// best calls over the cores took 85–220 µs against one thread's 120–200, sometimes less,
/// sometimes more, while generating over the cores took 0.45–0.51 ms a token against 0.29–0.43
/// on one thread (W8, alternating runs with each way forced): the cost of the pool's threads
/// to the work around the call does not show in the call's own time. Where the weight must
/// come from memory on many cores (a large vocabulary), their share of the bandwidth can
/// still win.
const BLOCK_HANDICAPS: &[f64] = &[1.0, 2.0];

/// Host-side output layer without a loss: the logits `[N, V]`.
///
/// With few rows (generation: one) the product reads every weight once per row and is bound
/// by memory bandwidth. A `[F, V]` weight in f32 is streamed in the order it is stored
/// ([`few_rows_product`]; W8's logits, 200 × 10 000, on an AMD Zen 4: the trial's best call
/// 120–170 µs, against 210–350 µs with the gemm crate); a transposed one, or f64, goes to the
/// gemm crate. The vocabulary is cut in one block of columns per core, and whether the blocks
/// run on the cores or one after the other on the calling thread is timed on each shape's
/// first calls ([`run_timed_by_calls_handicapped`]): a second core's share of the bandwidth
/// may or may not pay for waking it. The blocks are the same either way, and so are the bits.
fn logits_host<E: Elem>(
    sizes: Sizes,
    features: &[E],
    weight: &[E],
    bias: &[E],
    transposed: bool,
) -> Vec<E> {
    let Sizes {
        rows,
        features: width,
        classes,
    } = sizes;
    let strides = sizes.weight_strides(transposed);
    let mut logits = Vec::with_capacity(rows * classes);
    for _ in 0..rows {
        logits.extend_from_slice(bias);
    }
    if rows == 0 || classes == 0 {
        return logits;
    }
    if rows >= FEW_ROWS {
        let shape = (rows, classes, width);
        matmul(
            &mut logits,
            classes,
            true,
            features,
            (width, 1),
            weight,
            strides,
            shape,
            true,
        );
        return logits;
    }
    // Column blocks, each its own `[N, block]` product, then put in place: on the calling
    // thread or one block per core, whichever the shape's first calls timed faster.
    let threads = rayon::current_num_threads();
    let block = classes.div_ceil(threads).max(1);
    let firsts: Vec<usize> = (0..classes).step_by(block).collect();
    let kernel = elementwise_kernel::<E>();
    let block_product = |&first: &usize| {
        let columns = block.min(classes - first);
        let mut part = vec![E::zero(); rows * columns];
        let streamed =
            !transposed && streamed_block(kernel, (features, weight), sizes, first, &mut part);
        if !streamed {
            let rhs = &weight[first * strides.1..];
            let shape = (rows, columns, width);
            matmul(
                &mut part,
                columns,
                false,
                features,
                (width, 1),
                rhs,
                strides,
                shape,
                false,
            );
        }
        (first, columns, part)
    };
    let class = format!(
        "output layer logits {:?} N{} F{} V{}",
        E::dtype(),
        size_class(rows),
        size_class(width),
        size_class(classes),
    );
    let blocks: Vec<(usize, usize, Vec<E>)> = match threads {
        1 => firsts.iter().map(block_product).collect(),
        _ => run_timed_by_calls_handicapped(&class, BLOCK_WAYS, BLOCK_HANDICAPS, |way| match way {
            0 => firsts.iter().map(block_product).collect(),
            _ => firsts.par_iter().map(block_product).collect(),
        }),
    };
    for (first, columns, part) in blocks {
        for (row, values) in part.chunks_exact(columns).enumerate() {
            let logits = &mut logits[row * classes + first..][..columns];
            for (logit, &value) in logits.iter_mut().zip(values) {
                *logit = *logit + value;
            }
        }
    }
    logits
}

/// A few-row block of logits, `part` `[N, columns]` from the columns `first..` of a `[F, V]`
/// weight, streamed ([`few_rows_product`]); `false` (nothing written) in f64 or with the
/// portable kernel.
fn streamed_block<E: Elem>(
    kernel: CpuKernel,
    (features, weight): (&[E], &[E]),
    sizes: Sizes,
    first: usize,
    part: &mut [E],
) -> bool {
    let rows = sizes.rows;
    let columns = part.len() / rows.max(1);
    let (Some(lhs), Some(rhs), Some(dst)) =
        (E::as_f32(features), E::as_f32(weight), E::as_f32_mut(part))
    else {
        return false;
    };
    let operands = FewRows {
        lhs,
        rows,
        depth: sizes.features,
        rhs,
        rhs_row: sizes.classes,
        first,
        columns,
    };
    few_rows_product(kernel, operands, dst)
}

/// What backward needs.
#[derive(Debug)]
struct Saved<E> {
    sizes: Sizes,
    features: HostValues<E>,
    weight: HostValues<E>,
    /// Taken by the backward pass, which turns them into their gradient in place.
    logits: std::sync::Mutex<Pooled<E>>,
    log_sum_exp: Vec<E>,
    counted: usize,
    targets: Targets,
}

/// The gradients of the features `[N, F]`, the weight (its own layout) and the bias `[V]`,
/// for an upstream gradient `grad` of the mean loss.
fn backward_host<E: Elem>(saved: &Saved<E>, grad: E) -> (Pooled<E>, Pooled<E>, Vec<E>) {
    let Sizes {
        rows,
        features: width,
        classes,
    } = saved.sizes;
    let scale = if saved.counted == 0 {
        E::zero()
    } else {
        grad / E::from(saved.counted).expect("a count")
    };
    // d logits = (softmax − one-hot) · scale, ignored rows zero.
    let kernel = elementwise_kernel::<E>();
    let mut dlogits = std::mem::take(&mut *saved.logits.lock().expect("logits"));
    dlogits
        .par_chunks_mut(classes)
        .enumerate()
        .with_min_len(ROWS_PER_TASK)
        .for_each(|(row, d)| {
            let target = saved.targets.indices[row];
            if Some(target) == saved.targets.ignore {
                d.iter_mut().for_each(|v| *v = E::zero());
                return;
            }
            softmax_gradient_row(kernel, d, saved.log_sum_exp[row], scale);
            d[target] = d[target] - scale;
        });
    // The bias gradient: column sums, a share of the rows per task.
    let bias = dlogits
        .par_chunks(classes * ROWS_PER_TASK)
        .map(|rows| {
            let mut sums = vec![E::zero(); classes];
            for d in rows.chunks_exact(classes) {
                for (sum, &v) in sums.iter_mut().zip(d) {
                    *sum = *sum + v;
                }
            }
            sums
        })
        .reduce_with(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, &y)| *x = *x + y);
            a
        })
        .unwrap_or_else(|| vec![E::zero(); classes]);
    // d features = d logits · Wᵀ   (Wᵀ read through strides)
    let (w_row, w_col) = saved.sizes.weight_strides(saved.targets.transposed);
    // The products below replace every element: the gemm crate does not read the destination
    // unless asked to accumulate (tested in `crate::cpu::elem`).
    let mut dfeatures = pool::reused(rows * width);
    matmul(
        &mut dfeatures,
        width,
        false,
        &dlogits,
        (classes, 1),
        &saved.weight,
        (w_col, w_row),
        (rows, width, classes),
        true,
    );
    // d W = featuresᵀ · d logits, written in the weight's own layout.
    let mut dweight = pool::reused(width * classes);
    if saved.targets.transposed {
        // [V, F] = d logitsᵀ · features
        matmul(
            &mut dweight,
            width,
            false,
            &dlogits,
            (1, classes),
            &saved.features,
            (width, 1),
            (classes, width, rows),
            true,
        );
    } else {
        matmul(
            &mut dweight,
            classes,
            false,
            &saved.features,
            (1, width),
            &dlogits,
            (classes, 1),
            (width, classes, rows),
            true,
        );
    }
    (dfeatures, dweight, bias)
}

#[derive(Debug)]
enum SavedAny {
    F32(Saved<f32>),
    F64(Saved<f64>),
}

/// The fused output layer and loss as a burn backend operation.
#[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"), Autodiff)]
pub trait CrossEntropyBackend: Backend {
    /// `mean −log softmax(features · W + bias)[target]` over the counted rows.
    ///
    /// - `features`: `[N, F]`; `weight`: `[F, V]` (or `[V, F]` when `targets.transposed`);
    ///   `bias`: `[V]`
    ///
    /// Returns the loss, `[1]`.
    fn linear_cross_entropy(
        features: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        targets: Targets,
    ) -> FloatTensor<Self>;
}

/// The CPU backends' implementations: the forward pass alone.
macro_rules! cpu_cross_entropy {
    ($backend:ty) => {
        impl CrossEntropyBackend for $backend {
            fn linear_cross_entropy(
                features: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                bias: FloatTensor<Self>,
                targets: Targets,
            ) -> FloatTensor<Self> {
                match features.dtype() {
                    DType::F64 => forward_saving::<Self, f64>(&features, &weight, &bias, targets).0,
                    _ => forward_saving::<Self, f32>(&features, &weight, &bias, targets).0,
                }
            }
        }
    };
}

#[cfg(feature = "flex")]
cpu_cross_entropy!(Flex);
#[cfg(feature = "ndarray")]
cpu_cross_entropy!(NdArray);

#[derive(Debug)]
struct FusedCrossEntropy;

impl<B: HostTensors> Backward<B, 3> for FusedCrossEntropy {
    type State = Arc<SavedAny>;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let ids = ops.parents.map(|parent| parent.map(|node| node.id));
        let grad = grads.consume::<B>(&ops.node);
        match &*ops.state {
            SavedAny::F32(saved) => register::<B, f32>(saved, grad, ids, grads),
            SavedAny::F64(saved) => register::<B, f64>(saved, grad, ids, grads),
        }
    }
}

fn register<B: HostTensors, E: Elem>(
    saved: &Saved<E>,
    grad: FloatTensor<B>,
    [features_id, weight_id, bias_id]: [Option<NodeId>; 3],
    grads: &mut Gradients,
) {
    let device = grad.device();
    let grad = to_host::<B, E>(grad)[0];
    let (dfeatures, dweight, dbias) = backward_host(saved, grad);
    let Sizes {
        rows,
        features,
        classes,
    } = saved.sizes;
    if let Some(id) = features_id {
        grads.register::<B>(
            id,
            B::from_pooled::<E>(dfeatures, &[rows, features], &device),
        );
    }
    if let Some(id) = weight_id {
        let shape = if saved.targets.transposed {
            [classes, features]
        } else {
            [features, classes]
        };
        grads.register::<B>(id, B::from_pooled::<E>(dweight, &shape, &device));
    }
    if let Some(id) = bias_id {
        grads.register::<B>(id, from_host::<B, E>(dbias, &[classes], &device));
    }
}

fn forward_saving<B: HostTensors, E: Elem>(
    features: &FloatTensor<B>,
    weight: &FloatTensor<B>,
    bias: &FloatTensor<B>,
    targets: Targets,
) -> (FloatTensor<B>, Saved<E>) {
    let device = features.device();
    let sizes = Sizes::of::<B>(features, bias);
    let features = B::host_values::<E>(features);
    let weight = B::host_values::<E>(weight);
    let forward = forward_host::<E>(
        sizes,
        &features,
        &weight,
        &B::host_values::<E>(bias),
        &targets,
    );
    let loss = from_host::<B, E>(vec![forward.loss], &[1], &device);
    let saved = Saved {
        sizes,
        features,
        weight,
        logits: std::sync::Mutex::new(forward.logits),
        log_sum_exp: forward.log_sum_exp,
        counted: forward.counted,
        targets,
    };
    (loss, saved)
}

impl<B: CrossEntropyBackend + HostTensors, C: CheckpointStrategy> CrossEntropyBackend
    for Autodiff<B, C>
{
    fn linear_cross_entropy(
        features: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        targets: Targets,
    ) -> FloatTensor<Self> {
        match FusedCrossEntropy
            .prepare::<C>([features.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (loss, saved) = match features.primitive().dtype() {
                    DType::F64 => {
                        let (loss, saved) = forward_saving::<B, f64>(
                            features.primitive(),
                            weight.primitive(),
                            bias.primitive(),
                            targets,
                        );
                        (loss, SavedAny::F64(saved))
                    }
                    _ => {
                        let (loss, saved) = forward_saving::<B, f32>(
                            features.primitive(),
                            weight.primitive(),
                            bias.primitive(),
                            targets,
                        );
                        (loss, SavedAny::F32(saved))
                    }
                };
                prep.finish(Arc::new(saved), loss)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::linear_cross_entropy(
                features.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                targets,
            )),
        }
    }
}

/// The output layer alone as a burn backend operation, for callers that take no gradient.
#[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"), Autodiff)]
pub trait OutputLogitsBackend: Backend {
    /// `features · W + bias`.
    ///
    /// - `features`: `[N, F]`; `weight`: `[F, V]` (or `[V, F]` when `transposed`);
    ///   `bias`: `[V]`
    ///
    /// Returns the logits `[N, V]`. This default, burn's own operations, is what autodiff
    /// runs; the CPU backends compute it on the host.
    fn output_logits(
        features: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        transposed: bool,
    ) -> FloatTensor<Self> {
        let weight = match transposed {
            true => Self::float_transpose(weight),
            false => weight,
        };
        let classes = bias.shape()[0];
        let bias = Self::float_reshape(bias, [1, classes].into());
        Self::float_add(Self::float_matmul(features, weight), bias)
    }
}

macro_rules! cpu_output_logits {
    ($backend:ty) => {
        impl OutputLogitsBackend for $backend {
            fn output_logits(
                features: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                bias: FloatTensor<Self>,
                transposed: bool,
            ) -> FloatTensor<Self> {
                match features.dtype() {
                    DType::F64 => logits_on::<Self, f64>(&features, &weight, &bias, transposed),
                    _ => logits_on::<Self, f32>(&features, &weight, &bias, transposed),
                }
            }
        }
    };
}

#[cfg(feature = "flex")]
cpu_output_logits!(Flex);
#[cfg(feature = "ndarray")]
cpu_output_logits!(NdArray);

impl<B: OutputLogitsBackend, C: CheckpointStrategy> OutputLogitsBackend for Autodiff<B, C> {}

fn logits_on<B: HostTensors, E: Elem>(
    features: &FloatTensor<B>,
    weight: &FloatTensor<B>,
    bias: &FloatTensor<B>,
    transposed: bool,
) -> FloatTensor<B> {
    let sizes = Sizes::of::<B>(features, bias);
    let logits = logits_host::<E>(
        sizes,
        &B::host_values::<E>(features),
        &B::host_values::<E>(weight),
        &B::host_values::<E>(bias),
        transposed,
    );
    from_host::<B, E>(logits, &[sizes.rows, sizes.classes], &features.device())
}

/// The output layer alone, `features · W + bias` `[N, V]` (see [`OutputLogitsBackend`]): for
/// tensors without autodiff on the CPU backends.
pub(crate) fn output_logits(
    features: Tensor<2>,
    weight: Tensor<2>,
    bias: Tensor<1>,
    transposed: bool,
) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as OutputLogitsBackend>::output_logits(
        features.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        transposed,
    ))
}

/// The fused output layer and mean cross-entropy (see [`CrossEntropyBackend`]).
pub(crate) fn linear_cross_entropy(
    features: Tensor<2>,
    weight: Tensor<2>,
    bias: Tensor<1>,
    targets: Targets,
) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as CrossEntropyBackend>::linear_cross_entropy(
        features.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        targets,
    ))
}
