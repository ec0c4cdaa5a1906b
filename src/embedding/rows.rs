//! The embedding's rows on the CPU backends with their own backward node in burn's autodiff
//! (see [`super`]).

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

use crate::cpu::elem::Elem;
use crate::cpu::pool::{self, Pooled};
use crate::cpu::tensors::HostTensors;

/// The rows of `weight` `[vocab, features]` that `tokens` name, `[tokens, features]`.
pub(super) fn embedding_rows(weight: Tensor<2>, tokens: Arc<Vec<usize>>) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as EmbeddingBackend>::embedding_rows(
        weight.into_dispatch(),
        Tokens(tokens),
    ))
}

/// The word indices of an embedding's tokens, on the host.
#[derive(Clone, Debug)]
pub struct Tokens(Arc<Vec<usize>>);

/// The embedding's rows as a burn backend operation.
#[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"), Autodiff)]
pub trait EmbeddingBackend: Backend {
    /// The rows of `weight` `[vocab, features]` that `tokens` name, `[tokens, features]`.
    fn embedding_rows(weight: FloatTensor<Self>, tokens: Tokens) -> FloatTensor<Self>;
}

/// The rows of `weight` (`features` wide) named by `indices`, in a pooled buffer.
fn gather<E: Elem>(weight: &[E], features: usize, indices: &[usize]) -> Pooled<E> {
    // Every row is written before it is read.
    let mut rows = pool::reused::<E>(indices.len() * features);
    for (row, &token) in rows.chunks_exact_mut(features.max(1)).zip(indices) {
        row.copy_from_slice(&weight[token * features..(token + 1) * features]);
    }
    rows
}

fn rows_on<B: HostTensors, E: Elem>(weight: &FloatTensor<B>, tokens: &Tokens) -> FloatTensor<B> {
    let [_, features] = weight.shape().dims();
    let values = B::host_values::<E>(weight);
    let rows = gather(&values, features, &tokens.0);
    B::from_pooled::<E>(rows, &[tokens.0.len(), features], &weight.device())
}

macro_rules! cpu_embedding {
    ($backend:ty) => {
        impl EmbeddingBackend for $backend {
            fn embedding_rows(weight: FloatTensor<Self>, tokens: Tokens) -> FloatTensor<Self> {
                match weight.dtype() {
                    DType::F64 => rows_on::<Self, f64>(&weight, &tokens),
                    _ => rows_on::<Self, f32>(&weight, &tokens),
                }
            }
        }
    };
}

#[cfg(feature = "flex")]
cpu_embedding!(Flex);
#[cfg(feature = "ndarray")]
cpu_embedding!(NdArray);

/// What the backward pass needs: the tokens and the weight's shape.
#[derive(Debug)]
struct Saved {
    tokens: Tokens,
    vocab: usize,
    features: usize,
}

#[derive(Debug)]
struct EmbeddingRows;

impl<B: HostTensors> Backward<B, 1> for EmbeddingRows {
    type State = Arc<Saved>;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [weight_id] = ops.parents.map(|parent| parent.map(|node| node.id));
        let grad = grads.consume::<B>(&ops.node);
        let Some(weight_id) = weight_id else {
            return;
        };
        match grad.dtype() {
            DType::F64 => register::<B, f64>(&ops.state, grad, weight_id, grads),
            _ => register::<B, f32>(&ops.state, grad, weight_id, grads),
        }
    }
}

/// The weight's gradient: zero but for the tokens' rows, each the sum of its tokens' output
/// gradients added in token order.
fn register<B: HostTensors, E: Elem>(
    saved: &Saved,
    grad: FloatTensor<B>,
    weight_id: NodeId,
    grads: &mut Gradients,
) {
    let device = grad.device();
    let features = saved.features;
    let upstream = B::host_values::<E>(&grad);
    let mut weight_grad = pool::zeros::<E>(saved.vocab * features);
    for (row, &token) in upstream
        .chunks_exact(features.max(1))
        .zip(saved.tokens.0.iter())
    {
        let target = &mut weight_grad[token * features..(token + 1) * features];
        for (sum, &value) in target.iter_mut().zip(row) {
            *sum = *sum + value;
        }
    }
    let shape = [saved.vocab, features];
    grads.register::<B>(weight_id, B::from_pooled::<E>(weight_grad, &shape, &device));
}

impl<B: EmbeddingBackend + HostTensors, C: CheckpointStrategy> EmbeddingBackend for Autodiff<B, C> {
    fn embedding_rows(weight: FloatTensor<Self>, tokens: Tokens) -> FloatTensor<Self> {
        let [vocab, features] = weight.primitive().shape().dims();
        match EmbeddingRows
            .prepare::<C>([weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let rows = B::embedding_rows(weight.primitive().clone(), tokens.clone());
                let saved = Saved {
                    tokens,
                    vocab,
                    features,
                };
                prep.finish(Arc::new(saved), rows)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::embedding_rows(weight.into_primitive(), tokens))
            }
        }
    }
}
