//! Optimizers, learning-rate schedules and clipping by the global gradient norm.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;

/// Which optimizer trains the model.
#[derive(Config, Debug, PartialEq)]
pub enum OptimizerConfig {
    /// Plain stochastic gradient descent.
    Sgd,
    /// Adam (β₁ 0.9, β₂ 0.999) with the given ε (PyTorch 1e-8, Keras 1e-7).
    Adam {
        /// Added to the denominator for stability.
        epsilon: f64,
    },
}

impl OptimizerConfig {
    /// Adam with PyTorch's ε (1e-8).
    pub fn adam() -> Self {
        OptimizerConfig::Adam { epsilon: 1e-8 }
    }

    /// A fresh optimizer with no state.
    pub fn init(&self) -> ModuleOptimizer {
        match self {
            OptimizerConfig::Sgd => SgdConfig::new().init(),
            OptimizerConfig::Adam { epsilon } => {
                AdamConfig::new().with_epsilon(*epsilon as f32).init()
            }
        }
    }
}

/// The learning rate of each epoch: `initial` until epoch `decay_after` (counting from 1), then
/// multiplied by `decay` every epoch — Zaremba et al.'s schedule (1.0, after 4, × 0.5).
#[derive(Config, Debug, PartialEq)]
pub struct LrSchedule {
    /// Learning rate of the first epochs.
    pub initial: f64,
    /// Number of epochs at the initial rate (`None`: constant rate).
    #[config(default = "None")]
    pub decay_after: Option<usize>,
    /// Factor applied every epoch after that.
    #[config(default = 1.0)]
    pub decay: f64,
}

impl LrSchedule {
    /// A constant learning rate.
    pub fn constant(lr: f64) -> Self {
        Self::new(lr)
    }

    /// The rate of `epoch` (0-based).
    pub fn at(&self, epoch: usize) -> f64 {
        match self.decay_after {
            Some(after) if epoch >= after => {
                self.initial * self.decay.powi((epoch + 1 - after) as i32)
            }
            _ => self.initial,
        }
    }
}

/// Scales every gradient of `module` so that their joint L2 norm is at most `max_norm`, as
/// PyTorch's `clip_grad_norm_` does (burn's own clipping works per parameter tensor).
/// Returns the norm before clipping.
pub fn clip_global_norm<M: Module>(module: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    struct SquaredNorm<'a> {
        grads: &'a GradientsParams,
        total: Option<Tensor<1>>,
    }
    impl ModuleVisitor for SquaredNorm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.grads.get::<D>(param.id) {
                let squares = grad.square().sum();
                self.total = Some(match self.total.take() {
                    Some(total) => total + squares,
                    None => squares,
                });
            }
        }
    }
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f64,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.grads.remove::<D>(param.id) {
                self.grads.register(param.id, grad.mul_scalar(self.factor));
            }
        }
    }

    let mut norm = SquaredNorm { grads, total: None };
    module.visit(&mut norm);
    let Some(total) = norm.total else {
        return 0.0;
    };
    let norm = total.into_scalar::<f64>().sqrt();
    let factor = max_norm / (norm + 1e-6);
    if factor < 1.0 {
        module.visit(&mut Scale { grads, factor });
    }
    norm
}
