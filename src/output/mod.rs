//! A language model's output layer — `logits = features · W + b` over the vocabulary — and its
//! mean cross-entropy against the next tokens, as one operation.
//!
//! With a vocabulary of ten thousand words the output layer is most of a language model's
//! training step. burn's own operations materialise the logits, their log-softmax and the
//! gradient of each as separate `[rows, vocab]` tensors; on the CPU backends (flex, ndarray)
//! [`OutputLayer::cross_entropy`] makes the logits once, takes their softmax with vectorised
//! `exp`, and turns them straight into the three gradients in its own backward node inside
//! burn's autodiff. Elsewhere, or with [`Recurrence::Composed`], it is burn's matmul and
//! cross-entropy, differentiated by burn's autodiff: the same values.
//!
//! ```
//! use burn::prelude::*;
//! use burn_lstm::output::{OutputLayer, WeightLayout};
//!
//! let device = Device::flex().autodiff();
//! // 3 rows of 4 features, a vocabulary of 5 words.
//! let weight = Tensor::<2>::ones([4, 5], &device).require_grad();
//! let layer = OutputLayer::new(weight.clone(), WeightLayout::FeaturesByVocab, None);
//! let features = Tensor::<2>::ones([3, 4], &device);
//! let loss = layer.cross_entropy(features, &[0, 4, 2], None).unwrap();
//! // Equal logits: the loss is ln 5 whatever the target.
//! let value: f32 = loss.clone().into_scalar();
//! assert!((value - 5f32.ln()).abs() < 1e-6);
//! let gradients = loss.backward();
//! assert_eq!(weight.grad(&gradients).unwrap().dims(), [4, 5]);
//! ```

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::Int;
use burn::tensor::activation::log_softmax;

use crate::error::{LstmError, Result};
use crate::fused;

// The fused loss on the CPU backends, and the output layer alone for generation.
mod loss;
use crate::lstm::Recurrence;

/// How an output layer's weight is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightLayout {
    /// `[features, vocab]`: a dense layer's weight (burn's `Linear` stores this).
    FeaturesByVocab,
    /// `[vocab, features]`: an embedding matrix, for weights tied to the input embedding
    /// (Press & Wolf).
    VocabByFeatures,
}

/// An output layer over a vocabulary: a weight in either [`WeightLayout`] and an optional
/// bias `[vocab]`.
#[derive(Clone, Debug)]
pub struct OutputLayer {
    weight: Tensor<2>,
    layout: WeightLayout,
    bias: Option<Tensor<1>>,
    recurrence: Recurrence,
}

impl OutputLayer {
    /// An output layer computed the fused way where the backend has it (see the module docs).
    pub fn new(weight: Tensor<2>, layout: WeightLayout, bias: Option<Tensor<1>>) -> Self {
        Self {
            weight,
            layout,
            bias,
            recurrence: Recurrence::Fused,
        }
    }

    /// The same layer, computed the given way: [`Recurrence::Composed`] is burn's operations
    /// everywhere.
    pub fn with_recurrence(mut self, recurrence: Recurrence) -> Self {
        self.recurrence = recurrence;
        self
    }

    /// `(features, vocab)`, from the weight's shape and layout.
    pub fn sizes(&self) -> (usize, usize) {
        let [rows, columns] = self.weight.dims();
        match self.layout {
            WeightLayout::FeaturesByVocab => (rows, columns),
            WeightLayout::VocabByFeatures => (columns, rows),
        }
    }

    /// The logits.
    ///
    /// - `features`: `[rows, features]`
    ///
    /// Returns `[rows, vocab]`. Without autodiff (generation, evaluation) the CPU backends run
    /// it on the host, the product split over the cores by vocabulary blocks.
    ///
    /// # Errors
    /// When `features` has the wrong width.
    pub fn logits(&self, features: Tensor<2>) -> Result<Tensor<2>> {
        self.check_features(&features)?;
        let (weight, bias) = (self.weight.clone(), self.bias_or_zeros());
        let transposed = self.layout == WeightLayout::VocabByFeatures;
        if self.recurrence == Recurrence::Fused
            && !features.is_autodiff()
            && fused::on_host(&features.device(), features.dtype())
        {
            return Ok(loss::output_logits(features, weight, bias, transposed));
        }
        let weight = if transposed {
            weight.transpose()
        } else {
            weight
        };
        Ok(features.matmul(weight) + bias.unsqueeze_dim(0))
    }

    /// The mean cross-entropy of the logits against `targets`, over the rows whose target is
    /// not `ignore` (a padding index); 0 when every row is ignored.
    ///
    /// - `features`: `[rows, features]`; `targets`: one token index per row
    ///
    /// Returns `[1]`.
    ///
    /// # Errors
    /// When `features` has the wrong width, `targets` is not one per row, or a target is not
    /// a word of the vocabulary.
    pub fn cross_entropy(
        &self,
        features: Tensor<2>,
        targets: &[usize],
        ignore: Option<usize>,
    ) -> Result<Tensor<1>> {
        self.check_features(&features)?;
        let (rows, vocab) = (features.dims()[0], self.sizes().1);
        if targets.len() != rows {
            return Err(LstmError::shape(
                "targets",
                format!("one per row of the features ([{rows}])"),
                &[targets.len()],
            ));
        }
        if let Some((row, &target)) = targets
            .iter()
            .enumerate()
            .find(|&(_, &target)| target >= vocab && Some(target) != ignore)
        {
            return Err(LstmError::Config(format!(
                "target {target} of row {row} is not a word of the vocabulary of {vocab}"
            )));
        }
        let device = features.device();
        if self.recurrence == Recurrence::Fused && fused::on_host(&device, features.dtype()) {
            let targets = loss::Targets {
                indices: Arc::new(targets.to_vec()),
                ignore,
                transposed: self.layout == WeightLayout::VocabByFeatures,
            };
            let (weight, bias) = (self.weight.clone(), self.bias_or_zeros());
            return Ok(loss::linear_cross_entropy(features, weight, bias, targets));
        }
        // burn's operations: log-softmax, the targets' entries, their mean over the rows that
        // count (ignored rows pick entry 0 and are masked out).
        let counted: Vec<bool> = targets.iter().map(|&t| Some(t) != ignore).collect();
        let count = counted.iter().filter(|&&c| c).count();
        let picks: Vec<i64> = targets
            .iter()
            .zip(&counted)
            .map(|(&t, &c)| if c { t as i64 } else { 0 })
            .collect();
        let picks = Tensor::<2, Int>::from_data(TensorData::new(picks, [rows, 1]), &device);
        let mask: Vec<f64> = counted.iter().map(|&c| f64::from(u8::from(c))).collect();
        let mask = Tensor::<2>::from_data(
            TensorData::new(mask, [rows, 1]),
            (&device, features.dtype()),
        );
        let composed = self.clone().with_recurrence(Recurrence::Composed);
        let log_probabilities = log_softmax(composed.logits(features)?, 1);
        // The mean over all rows, rescaled to the counted ones: burn's `sum` differentiates
        // through f32 on the CPU backends (gradients off by ~1e-8 in f64), `mean` does not.
        let mean = (log_probabilities.gather(1, picks) * mask).mean().neg();
        Ok(mean.mul_scalar(rows as f64 / count.max(1) as f64))
    }

    fn bias_or_zeros(&self) -> Tensor<1> {
        self.bias.clone().unwrap_or_else(|| {
            let options = (&self.weight.device(), self.weight.dtype());
            Tensor::zeros([self.sizes().1], options)
        })
    }

    fn check_features(&self, features: &Tensor<2>) -> Result<()> {
        let width = self.sizes().0;
        match features.dims() {
            [_, columns] if columns == width => Ok(()),
            dims => Err(LstmError::shape(
                "features",
                format!("[rows, {width}]"),
                &dims,
            )),
        }
    }
}
