//! How the gates' weights and biases start out.

use burn::module::Initializer;
use burn::prelude::*;

/// Initialisation of an LSTM's parameters.
///
/// The default is PyTorch's: every weight and bias drawn from `U(-1/√H, 1/√H)`, `H` the hidden
/// size. The presets [`LstmInit::keras`] and [`LstmInit::uniform`] cover the other common
/// recipes, and each part can be set on its own with the `with_*` setters.
///
/// Weights are drawn for all four gates at once, as one `[fan_in, 4H]` matrix that is
/// then cut into gates, so `Orthogonal` and `XavierUniform` mean what they mean in Keras.
#[derive(Config, Debug, PartialEq)]
pub struct LstmInit {
    /// Weights on the step's input `x_t`. `None`: PyTorch's `U(-1/√H, 1/√H)`.
    #[config(default = "None")]
    pub input_weights: Option<Initializer>,
    /// Weights on the previous hidden state `h_{t-1}`. `None`: PyTorch's `U(-1/√H, 1/√H)`.
    #[config(default = "None")]
    pub recurrent_weights: Option<Initializer>,
    /// Biases (both the input and the recurrent bias). `None`: PyTorch's `U(-1/√H, 1/√H)`.
    #[config(default = "None")]
    pub biases: Option<Initializer>,
    /// A fixed total bias for the forget gate (Keras's `unit_forget_bias` is `1.0`): the input
    /// bias of the forget gate takes this value and its recurrent bias zero.
    #[config(default = "None")]
    pub forget_bias: Option<f64>,
    /// The projection `W_hr` of an LSTMP. `None`: PyTorch's `U(-1/√H, 1/√H)`.
    #[config(default = "None")]
    pub projection: Option<Initializer>,
}

impl LstmInit {
    /// PyTorch's `nn.LSTM` default (the same as [`LstmInit::new`]).
    pub fn pytorch() -> Self {
        Self::new()
    }

    /// Keras's `LSTM` default: Glorot-uniform input kernel, orthogonal recurrent kernel,
    /// zero biases and a forget-gate bias of one.
    pub fn keras() -> Self {
        Self::new()
            .with_input_weights(Some(Initializer::XavierUniform { gain: 1.0 }))
            .with_recurrent_weights(Some(Initializer::Orthogonal { gain: 1.0 }))
            .with_biases(Some(Initializer::Zeros))
            .with_forget_bias(Some(1.0))
    }

    /// Every parameter from `U(-scale, scale)`, as in Zaremba et al. (2014), who use `0.1`.
    pub fn uniform(scale: f64) -> Self {
        let uniform = Some(Initializer::Uniform {
            min: -scale,
            max: scale,
        });
        Self::new()
            .with_input_weights(uniform.clone())
            .with_recurrent_weights(uniform.clone())
            .with_biases(uniform.clone())
            .with_projection(uniform)
    }

    /// Draws a `[fan_in, 4H]` weight matrix (all four gates side by side).
    pub(crate) fn draw_gate_weights(
        choice: &Option<Initializer>,
        fan_in: usize,
        hidden_size: usize,
        device: &Device,
    ) -> Tensor<2> {
        let shape = [fan_in, 4 * hidden_size];
        Self::resolve(choice, hidden_size)
            .init_with(shape, Some(fan_in), Some(4 * hidden_size), device)
            .into_value()
    }

    /// Draws one `[4H]` bias vector.
    pub(crate) fn draw_biases(&self, hidden_size: usize, device: &Device) -> Tensor<1> {
        Self::resolve(&self.biases, hidden_size)
            .init_with(
                [4 * hidden_size],
                Some(hidden_size),
                Some(4 * hidden_size),
                device,
            )
            .into_value()
    }

    /// Draws the `[hidden, hidden_out]` projection.
    pub(crate) fn draw_projection(
        &self,
        hidden_size: usize,
        proj_size: usize,
        device: &Device,
    ) -> Tensor<2> {
        Self::resolve(&self.projection, hidden_size)
            .init_with(
                [hidden_size, proj_size],
                Some(hidden_size),
                Some(proj_size),
                device,
            )
            .into_value()
    }

    fn resolve(choice: &Option<Initializer>, hidden_size: usize) -> Initializer {
        choice.clone().unwrap_or_else(|| {
            let bound = 1.0 / (hidden_size as f64).sqrt();
            Initializer::Uniform {
                min: -bound,
                max: bound,
            }
        })
    }
}
