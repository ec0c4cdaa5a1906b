//! The forecaster: an LSTM reads the window, a linear head reads its final state and gives
//! every step of the horizon at once (direct multi-output), for each quantile; a linear map of
//! the window's own values is added to it (LSTNet's autoregressive "highway"), so that what a
//! linear autoregression sees is there from the start and the LSTM learns what is left. One
//! model serves every series of a collection: the features put each in its own unit.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn_lstm::{Lstm, LstmConfig};

use crate::error::{Error, Result};

/// Configuration of a [`Forecaster`].
#[derive(Config, Debug)]
pub struct ForecasterConfig {
    /// The encoder; its input size is the features' width (value, covariates, phase).
    pub lstm: LstmConfig,
    /// Steps of the window the linear part reads.
    pub window: usize,
    /// Steps predicted at once.
    pub horizon: usize,
    /// The quantiles predicted, each in (0, 1); the point forecast is the median's, or the
    /// only one's. `[0.5]` trains the median (least absolute error).
    #[config(default = "vec![0.5]")]
    pub quantiles: Vec<f64>,
}

impl ForecasterConfig {
    /// Checks the configuration and builds the model on `device`.
    pub fn try_init(&self, device: &Device) -> Result<Forecaster> {
        if self.horizon == 0 {
            return Err(Error::Config("a forecast needs a horizon".into()));
        }
        if let Some(q) = self.quantiles.iter().find(|q| !(**q > 0.0 && **q < 1.0)) {
            return Err(Error::Config(format!("quantile {q} is not in (0, 1)")));
        }
        let lstm = self.lstm.try_init(device)?;
        let outputs = self.horizon * self.quantiles.len();
        Ok(Forecaster {
            head: LinearConfig::new(lstm.output_size(), outputs).init(device),
            linear: LinearConfig::new(self.window, outputs)
                .with_bias(false)
                .init(device),
            lstm,
            horizon: self.horizon,
            quantiles: self.quantiles.len(),
        })
    }

    /// The nominal coverage of the interval between the outer quantiles (0 with one).
    pub fn coverage(&self) -> f64 {
        match self.quantiles.len() {
            0 | 1 => 0.0,
            n => self.quantiles[n - 1] - self.quantiles[0],
        }
    }

    /// The index of the point forecast among the quantiles: the median's, else the middle
    /// one.
    pub fn point_index(&self) -> usize {
        self.quantiles
            .iter()
            .position(|&q| q == 0.5)
            .unwrap_or(self.quantiles.len() / 2)
    }
}

/// See the module documentation.
#[derive(Module, Debug)]
pub struct Forecaster {
    /// The encoder of the window.
    pub lstm: Lstm,
    /// Its final state to every step and quantile.
    pub head: Linear,
    /// The window's values (the first input of each step) to the outputs.
    pub linear: Linear,
    /// Steps predicted.
    pub horizon: usize,
    /// Quantiles predicted.
    pub quantiles: usize,
}

impl Forecaster {
    /// - `windows`: `[batch, window, width]`
    ///
    /// Returns `[batch, horizon, quantiles]`, in the features' units.
    pub fn forward(&self, windows: Tensor<3>) -> Tensor<3> {
        let [batch, window, _] = windows.dims();
        let values = windows
            .clone()
            .slice(s![.., .., 0..1])
            .reshape([batch, window]);
        let (_, state) = self.lstm.forward(windows, None);
        let outputs =
            self.head.forward(self.lstm.final_output(&state)) + self.linear.forward(values);
        outputs.reshape([batch, self.horizon, self.quantiles])
    }
}

/// The mean pinball loss of `predicted` (`[batch, horizon, quantiles]`) against `actual`
/// (`[batch, horizon]`): for quantile `τ`, `τ·(y − ŷ)` above the forecast and `(1 − τ)·(ŷ − y)`
/// below it; for the median alone, half the absolute error.
pub fn pinball_loss(predicted: Tensor<3>, actual: Tensor<2>, quantiles: &[f64]) -> Tensor<1> {
    let device = predicted.device();
    let q = quantiles.len();
    let levels = Tensor::<1>::from_data(
        TensorData::new(quantiles.to_vec(), [q]),
        (&device, predicted.dtype()),
    )
    .reshape([1, 1, q]);
    let error = actual.unsqueeze_dim::<3>(2) - predicted;
    let above = error.clone() * levels.clone();
    let below = error * (levels - 1.0);
    above.max_pair(below).mean()
}
