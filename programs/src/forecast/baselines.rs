//! The forecasts a practitioner tries first, each of a series' next `H` values from the rows
//! before an origin: persistence (the last value), seasonal naive (the value one season
//! earlier), a linear autoregression on the same window as the LSTM (least squares on the
//! training part, one equation per step of the horizon), exponential smoothing (augurs'
//! AutoETS; for a seasonal series, its trend after an MSTL decomposition), Holt–Winters and the
//! Theta method ([`super::smoothing`]).

use augurs::ets::AutoETS;
use augurs::ets::trend::AutoETSTrendModel;
use augurs::mstl::MSTLModel;
use augurs::prelude::*;

use super::smoothing::{HoltWinters, theta};

/// A baseline method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Baseline {
    /// The last value, repeated.
    Persistence,
    /// Each step's value one season earlier.
    SeasonalNaive,
    /// A linear autoregression on the model's window.
    LinearAr,
    /// augurs' AutoETS (non-seasonal; on an MSTL trend for a seasonal series).
    Ets,
    /// Holt–Winters, its form chosen by AICc.
    HoltWinters,
    /// The classical Theta method.
    Theta,
}

/// The seasons a baseline works with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seasons {
    /// Seasonal naive's season: the series' own (tested, found or given), else the
    /// calendar's, else 1.
    pub naive: usize,
    /// The season Holt–Winters, Theta and ETS may use (they test or choose it themselves):
    /// the given season, else the calendar's, else a cycle found, else 1.
    pub smoothing: usize,
}

impl Baseline {
    /// Every baseline, in the order the reports list them.
    pub const ALL: [Baseline; 6] = [
        Baseline::Persistence,
        Baseline::SeasonalNaive,
        Baseline::LinearAr,
        Baseline::Ets,
        Baseline::HoltWinters,
        Baseline::Theta,
    ];

    /// Its name in the reports.
    pub fn name(self) -> &'static str {
        match self {
            Baseline::Persistence => "persistence",
            Baseline::SeasonalNaive => "seasonal naive",
            Baseline::LinearAr => "linear AR",
            Baseline::Ets => "ETS",
            Baseline::HoltWinters => "Holt-Winters",
            Baseline::Theta => "Theta",
        }
    }

    /// Its column in `baselines.csv`.
    pub fn column(self) -> &'static str {
        match self {
            Baseline::Persistence => "naive",
            Baseline::SeasonalNaive => "seasonal_naive",
            Baseline::LinearAr => "linear_ar",
            Baseline::Ets => "ets",
            Baseline::HoltWinters => "holt_winters",
            Baseline::Theta => "theta",
        }
    }

    /// The next `horizon` values after `history` (`linear`: the series' fitted
    /// autoregression, when it has one). `None` when the method cannot forecast it.
    pub fn forecast(
        self,
        history: &[f64],
        horizon: usize,
        seasons: Seasons,
        linear: Option<&LinearAr>,
    ) -> Option<Vec<f64>> {
        let end = history.len();
        match self {
            Baseline::Persistence => Some(persistence(history, end, horizon)),
            Baseline::SeasonalNaive => {
                let season = if end >= seasons.naive {
                    seasons.naive
                } else {
                    1
                };
                Some(seasonal_naive(history, end, horizon, season))
            }
            Baseline::LinearAr => linear
                .filter(|model| end >= model.window)
                .map(|model| model.forecast(history, end)),
            Baseline::Ets => ets(
                history,
                end,
                horizon,
                Some(seasons.smoothing).filter(|&m| m > 1),
            ),
            Baseline::HoltWinters => HoltWinters::fit_auto(history, seasons.smoothing)
                .map(|model| model.forecast(horizon)),
            Baseline::Theta => theta(history, horizon, seasons.smoothing),
        }
        .filter(|forecast| forecast.iter().all(|v| v.is_finite()))
    }
}

/// `H` copies of the last value before `end`.
pub fn persistence(values: &[f64], end: usize, horizon: usize) -> Vec<f64> {
    vec![values[end - 1]; horizon]
}

/// Each step's value one season (`m`) earlier, the last season repeated for a horizon past it.
pub fn seasonal_naive(values: &[f64], end: usize, horizon: usize, season: usize) -> Vec<f64> {
    (0..horizon)
        .map(|h| values[end - season + h % season])
        .collect()
}

/// A linear autoregression on the last `window` values, one set of coefficients per step of
/// the horizon, fitted by least squares (a little ridge, for windows longer than the data
/// supports) on the training part. Like the LSTM it works relative to the window's last value.
#[derive(Clone, Debug)]
pub struct LinearAr {
    /// Steps it reads.
    pub window: usize,
    /// `[horizon][window + 1]`: each step's weights on the window's values, then the bias.
    coefficients: Vec<Vec<f64>>,
}

impl LinearAr {
    /// Fits the coefficients on the windows whose horizon lies before row `train_end`; `None`
    /// when there is no such window.
    pub fn fit(values: &[f64], train_end: usize, window: usize, horizon: usize) -> Option<Self> {
        if train_end < window + horizon {
            return None;
        }
        let size = window + 1;
        let mut normal = vec![0.0; size * size];
        let mut right = vec![vec![0.0; size]; horizon];
        for end in window..=train_end - horizon {
            let x = Self::regressors(values, end, window);
            for i in 0..size {
                for j in 0..size {
                    normal[i * size + j] += x[i] * x[j];
                }
            }
            for (h, right) in right.iter_mut().enumerate() {
                let y = values[end + h] - values[end - 1];
                for i in 0..size {
                    right[i] += x[i] * y;
                }
            }
        }
        let ridge = 1e-6 * (0..size).map(|i| normal[i * size + i]).sum::<f64>() / size as f64;
        for i in 0..window {
            normal[i * size + i] += ridge.max(1e-12);
        }
        let factor = cholesky(&normal, size);
        Some(Self {
            window,
            coefficients: right.iter().map(|b| solve(&factor, size, b)).collect(),
        })
    }

    /// The window's values relative to its last one, and 1 for the bias.
    fn regressors(values: &[f64], end: usize, window: usize) -> Vec<f64> {
        let last = values[end - 1];
        let mut x: Vec<f64> = values[end - window..end].iter().map(|v| v - last).collect();
        x.push(1.0);
        x
    }

    /// The next `H` values after row `end - 1`.
    pub fn forecast(&self, values: &[f64], end: usize) -> Vec<f64> {
        let x = Self::regressors(values, end, self.window);
        self.coefficients
            .iter()
            .map(|w| values[end - 1] + w.iter().zip(&x).map(|(a, b)| a * b).sum::<f64>())
            .collect()
    }
}

/// The lower triangle `L` of `a = L·Lᵀ` (`a` symmetric positive definite, `n × n`).
fn cholesky(a: &[f64], n: usize) -> Vec<f64> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            l[i * n + j] = match i == j {
                true => (a[i * n + i] - sum).max(1e-300).sqrt(),
                false => (a[i * n + j] - sum) / l[j * n + j],
            };
        }
    }
    l
}

/// `x` with `L·Lᵀ·x = b`.
fn solve(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| l[i * n + k] * y[k]).sum::<f64>()) / l[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| l[k * n + i] * x[k]).sum::<f64>()) / l[i * n + i];
    }
    x
}

/// Exponential smoothing fitted to the values before `end`, `H` steps ahead: AutoETS (the
/// best of its error, trend and damping forms by AIC); with a season seen at least twice, on
/// the trend left by an MSTL decomposition, the season added back. `None` when it cannot be
/// fitted (the error is printed by the caller's report as a missing figure).
pub fn ets(values: &[f64], end: usize, horizon: usize, season: Option<usize>) -> Option<Vec<f64>> {
    let history = &values[..end];
    let forecast = match season.filter(|&m| history.len() >= 2 * m && m >= 2) {
        Some(m) => {
            let trend = AutoETSTrendModel::from(AutoETS::non_seasonal());
            let fitted = MSTLModel::new(vec![m], trend).fit(history).ok()?;
            fitted.predict(horizon, None).ok()?
        }
        None => AutoETS::non_seasonal()
            .fit(history)
            .ok()?
            .predict(horizon, None)
            .ok()?,
    };
    forecast
        .point
        .iter()
        .all(|v| v.is_finite())
        .then_some(forecast.point)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_forecasts() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(persistence(&values, 4, 3), vec![4.0; 3]);
        assert_eq!(
            seasonal_naive(&values, 6, 5, 2),
            vec![5.0, 6.0, 5.0, 6.0, 5.0]
        );
    }

    #[test]
    fn the_linear_autoregression_learns_a_linear_recurrence() {
        // x_t = 2·cos(0.3)·x_{t-1} − x_{t-2} + c: a sinusoid around a level, an exact
        // linear recurrence of order two.
        let mut values = vec![0.0, 1.0];
        let (a, c) = (2.0 * 0.3f64.cos(), 0.5);
        for t in 2..200 {
            values.push(a * values[t - 1] - values[t - 2] + c);
        }
        let model = LinearAr::fit(&values, 150, 4, 3).unwrap();
        let forecast = model.forecast(&values, 180);
        for (h, value) in forecast.iter().enumerate() {
            assert!((value - values[180 + h]).abs() < 1e-4, "step {h}: {value}");
        }
    }

    #[test]
    fn exponential_smoothing_follows_a_trend() {
        let values: Vec<f64> = (0..60).map(|i| 10.0 + 2.0 * i as f64).collect();
        let forecast = ets(&values, 50, 3, None).expect("a fit");
        for (h, value) in forecast.iter().enumerate() {
            assert!((value - values[50 + h]).abs() < 0.5, "step {h}: {value}");
        }
    }
}
