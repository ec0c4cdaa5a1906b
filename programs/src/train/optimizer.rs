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

/// `Σ g²` over one gradient's values, as a `[1]` tensor.
///
/// On the CPU backends, the product `g·gᵀ` of the values as one row: one pass that makes
/// nothing of the gradient's size. Squaring first writes a tensor as large as the gradient
/// (8 MB for the PTB models' embedding and output weights, each step) on one thread, which
/// made clipping an eighth of a PTB small training step on two cores. On a GPU the squares
/// and their sum are the usual element-wise kernel and reduction, where a product with one
/// output would leave the device idle.
fn squared_norm<const D: usize>(grad: Tensor<D>) -> Tensor<1> {
    if !burn_lstm::cpu::is_cpu_device(&grad.device()) {
        return grad.square().sum();
    }
    let values = grad.shape().num_elements();
    let row = grad.reshape([1, values]);
    row.clone().matmul(row.transpose()).reshape([1])
}

/// Scales every gradient of `module` so that their joint L2 norm is at most `max_norm`, as
/// PyTorch's `clip_grad_norm_` does (burn's own clipping works per parameter tensor).
/// Returns the norm before clipping.
pub fn clip_global_norm<M: Module>(module: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
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

    let clipping = global_norm(module, grads, max_norm);
    if clipping.factor < 1.0 {
        let factor = clipping.factor;
        module.visit(&mut Scale { grads, factor });
    }
    clipping.norm
}

/// The joint L2 norm of a model's gradients and what clipping it to a maximum multiplies them
/// by.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GlobalNorm {
    /// The norm before clipping.
    pub norm: f64,
    /// `max_norm / norm` where the norm is above the maximum, else 1.
    pub factor: f64,
}

/// The joint L2 norm of `module`'s gradients and the factor that clips it to `max_norm`,
/// without touching the gradients: with plain SGD, the step with the learning rate times the
/// factor is the clipped step (up to rounding), and no scaled copy of every gradient is
/// written (16 MB a PTB small step, on one thread).
pub fn global_norm<M: Module>(module: &M, grads: &GradientsParams, max_norm: f64) -> GlobalNorm {
    struct SquaredNorm<'a> {
        grads: &'a GradientsParams,
        total: Option<Tensor<1>>,
    }
    impl ModuleVisitor for SquaredNorm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.grads.get::<D>(param.id) {
                let squares = squared_norm(grad);
                self.total = Some(match self.total.take() {
                    Some(total) => total + squares,
                    None => squares,
                });
            }
        }
    }

    let mut squared = SquaredNorm { grads, total: None };
    module.visit(&mut squared);
    let Some(total) = squared.total else {
        return GlobalNorm {
            norm: 0.0,
            factor: 1.0,
        };
    };
    let norm = total.into_scalar::<f64>().sqrt();
    let factor = max_norm / (norm + 1e-6);
    GlobalNorm {
        norm,
        factor: factor.min(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};

    /// Gradients of a `Linear(3, 2)`: its weight's values `1..=6`, its bias's `[2, -2]`.
    fn linear_with_gradients(device: &Device) -> (Linear, GradientsParams) {
        let linear = LinearConfig::new(3, 2).init(device);
        let grads = gradients_of(&linear, device);
        (linear, grads)
    }

    fn gradients_of(linear: &Linear, device: &Device) -> GradientsParams {
        let mut grads = GradientsParams::new();
        let weight = Tensor::<2>::from_data([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device);
        grads.register(linear.weight.id, weight);
        let bias = linear.bias.as_ref().expect("a bias");
        grads.register(bias.id, Tensor::<1>::from_data([2.0, -2.0], device));
        grads
    }

    #[test]
    fn the_global_norm_is_the_norm_of_every_gradient_together_and_clips_to_the_maximum() {
        let device = Device::default();
        // 1 + 4 + 9 + 16 + 25 + 36 + 4 + 4 = 99
        let expected = 99f64.sqrt();
        let (linear, mut grads) = linear_with_gradients(&device);
        let norm = clip_global_norm(&linear, &mut grads, 100.0);
        assert!((norm - expected).abs() < 1e-5, "{norm}");
        // Below the maximum: the gradients are left as they were.
        let weight: Vec<f32> = grads
            .get::<2>(linear.weight.id)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(weight, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        // Above it: every gradient scaled by the same factor, to a joint norm of the maximum.
        let (linear, mut grads) = linear_with_gradients(&device);
        clip_global_norm(&linear, &mut grads, 1.0);
        let mut again = grads;
        let clipped = clip_global_norm(&linear, &mut again, 1e9);
        assert!((clipped - 1.0).abs() < 1e-5, "{clipped}");
        let bias_id = linear.bias.as_ref().unwrap().id;
        let bias: Vec<f32> = again
            .get::<1>(bias_id)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let factor = 1.0 / (expected + 1e-6);
        assert!((f64::from(bias[0]) - 2.0 * factor).abs() < 1e-6, "{bias:?}");
    }

    /// Plain SGD with the learning rate times the clipping factor takes the clipped step.
    #[test]
    fn sgd_with_the_factor_in_the_learning_rate_takes_the_clipped_step() {
        let device = Device::default().autodiff();
        let (linear, grads) = linear_with_gradients(&device);
        let clipping = global_norm(&linear, &grads, 1.0);
        assert!((clipping.norm - 99f64.sqrt()).abs() < 1e-5);
        assert!(clipping.factor < 1.0);
        let mut clipped = gradients_of(&linear, &device);
        clip_global_norm(&linear, &mut clipped, 1.0);
        let mut optimizer = OptimizerConfig::Sgd.init();
        let by_gradients = optimizer.step(0.5, linear.clone(), clipped);
        let mut optimizer = OptimizerConfig::Sgd.init();
        let by_rate = optimizer.step(0.5 * clipping.factor, linear, grads);
        let weights = |model: Linear| -> Vec<f32> {
            model.weight.val().into_data().try_to_vec::<f32>().unwrap()
        };
        for (a, b) in weights(by_gradients).iter().zip(weights(by_rate)) {
            assert!((a - b).abs() < 1e-6, "{a} against {b}");
        }
        // Below the maximum the factor is 1.
        let (linear, grads) = linear_with_gradients(&device);
        assert_eq!(global_norm(&linear, &grads, 100.0).factor, 1.0);
    }

    #[test]
    fn a_large_gradients_squared_norm_matches_the_squares_summed() {
        let device = Device::default();
        let grad = Tensor::<2>::random(
            [300, 700],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let by_product: f64 = squared_norm(grad.clone()).into_scalar::<f64>();
        let summed: f64 = grad.square().sum().into_scalar::<f64>();
        assert!(
            (by_product - summed).abs() < 1e-4 * summed,
            "{by_product} against {summed}"
        );
    }
}
