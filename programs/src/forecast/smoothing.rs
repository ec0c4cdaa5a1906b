//! Exponential smoothing baselines written out: the classical Theta method (the M3
//! competition's winner) and Holt–Winters (additive or multiplicative season, none, linear or
//! damped trend, chosen by AICc), with the Nelder–Mead search that fits their parameters.
//!
//! Theta follows Hyndman and Billah (2003), as R's `forecast::thetaf` computes it: the series
//! seasonally adjusted by the classical multiplicative decomposition when the 90%
//! autocorrelation test says it is seasonal, simple exponential smoothing (its smoothing
//! weight and first level fitted by least squares) plus half the slope of the series' linear
//! trend as a drift, the season put back.

use super::season::{seasonal_indices, test_lag};

/// The Theta method's `horizon` values after `values` (season `m`; 1 for none). `None` for a
/// series of fewer than three values.
pub fn theta(values: &[f64], horizon: usize, m: usize) -> Option<Vec<f64>> {
    let n = values.len();
    if n < 3 {
        return None;
    }
    let positive = values.iter().all(|&v| v > 0.0);
    let indices = (m > 1 && positive)
        .then(|| test_lag(values, m))
        .flatten()
        .filter(|evidence| evidence.passes())
        .and_then(|_| seasonal_indices(values, m, true));
    let adjusted: Vec<f64> = match &indices {
        Some(indices) => values
            .iter()
            .enumerate()
            .map(|(t, v)| v / indices[t % m])
            .collect(),
        None => values.to_vec(),
    };
    let (alpha, level) = fit_ses(&adjusted);
    let slope = least_squares_slope(&adjusted);
    let alpha = alpha.max(1e-10);
    let drift_start = (1.0 - (1.0 - alpha).powi(n as i32)) / alpha;
    Some(
        (0..horizon)
            .map(|j| {
                let forecast = level + slope / 2.0 * (j as f64 + drift_start);
                match &indices {
                    Some(indices) => forecast * indices[(n + j) % m],
                    None => forecast,
                }
            })
            .collect(),
    )
}

/// Simple exponential smoothing: a smoothing weight and a first level.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ses {
    /// The weight of each new value.
    pub alpha: f64,
    /// The level before the first value.
    pub initial: f64,
}

impl Ses {
    /// The smoothing that keeps the last value (a weight of 1).
    pub const LAST_VALUE: Ses = Ses {
        alpha: 1.0,
        initial: 0.0,
    };

    /// The level after `values`.
    pub fn level_after(&self, values: impl IntoIterator<Item = f64>) -> f64 {
        values.into_iter().fold(self.initial, |level, value| {
            level + self.alpha * (value - level)
        })
    }

    /// Fitted by least squares of its one-step errors on `values`.
    pub fn fit(values: &[f64]) -> Ses {
        let scale = typical(values);
        let at = |p: &[f64]| Ses {
            alpha: logistic(p[0]),
            initial: values[0] + p[1] * scale,
        };
        let objective = |p: &[f64]| at(p).run(values).0;
        at(&nelder_mead(&objective, &[0.0, 0.0], 0.5, 400))
    }

    /// The one-step errors' sum of squares over `values`, and the level after them.
    pub fn run(&self, values: &[f64]) -> (f64, f64) {
        let (mut level, mut sse) = (self.initial, 0.0);
        for &value in values {
            let error = value - level;
            sse += error * error;
            level += self.alpha * error;
        }
        (sse, level)
    }
}

/// Simple exponential smoothing fitted by least squares of its one-step errors: the
/// smoothing weight and the last level.
fn fit_ses(values: &[f64]) -> (f64, f64) {
    let ses = Ses::fit(values);
    (ses.alpha, ses.run(values).1)
}

/// The slope of the least-squares line through `values` against `0, 1, …`.
fn least_squares_slope(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean_t = (n - 1.0) / 2.0;
    let mean_v = values.iter().sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for (t, v) in values.iter().enumerate() {
        covariance += (t as f64 - mean_t) * (v - mean_v);
        variance += (t as f64 - mean_t).powi(2);
    }
    if variance > 0.0 {
        covariance / variance
    } else {
        0.0
    }
}

/// The trend of a Holt–Winters model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trend {
    /// None.
    None,
    /// Linear.
    Additive,
    /// Linear, damped towards a constant.
    Damped,
}

/// The season of a Holt–Winters model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Season {
    /// None.
    None,
    /// Added to the level.
    Additive,
    /// A factor of the level (positive series only).
    Multiplicative,
}

/// A fitted Holt–Winters model: its form, parameters and final states.
#[derive(Clone, Debug)]
pub struct HoltWinters {
    /// The trend's form.
    pub trend: Trend,
    /// The season's form.
    pub season: Season,
    /// Smoothing weights of level, trend and season, and the damping factor.
    pub params: [f64; 4],
    /// The corrected Akaike information criterion of the fit.
    pub aicc: f64,
    level: f64,
    slope: f64,
    /// The last `m` seasonal states, oldest first.
    seasonal: Vec<f64>,
}

impl HoltWinters {
    /// The best form by AICc for `values` with season `m` (1: none), every form fitted by
    /// Nelder–Mead on its one-step squared errors; a season needs two full seasons, a
    /// multiplicative one positive values. `None` for fewer than four values.
    pub fn fit_auto(values: &[f64], m: usize) -> Option<HoltWinters> {
        if values.len() < 4 {
            return None;
        }
        let seasonal = m > 1 && values.len() >= 2 * m;
        let positive = values.iter().all(|&v| v > 0.0);
        let mut forms = Vec::new();
        for trend in [Trend::None, Trend::Additive, Trend::Damped] {
            forms.push((trend, Season::None));
            if seasonal {
                forms.push((trend, Season::Additive));
                if positive {
                    forms.push((trend, Season::Multiplicative));
                }
            }
        }
        forms
            .into_iter()
            .filter_map(|(trend, season)| Self::fit(values, m, trend, season))
            .filter(|model| model.aicc.is_finite())
            .min_by(|a, b| a.aicc.total_cmp(&b.aicc))
    }

    /// One form fitted to `values`.
    pub fn fit(values: &[f64], m: usize, trend: Trend, season: Season) -> Option<HoltWinters> {
        let m = if season == Season::None { 1 } else { m };
        let start = Start::new(values, m, season)?;
        let scale = typical(values);
        let objective = |p: &[f64]| {
            let params = Self::constrain(p, trend, season);
            let (sse, ..) = Self::run(values, &start, m, trend, season, params);
            if sse.is_finite() { sse } else { f64::MAX }
        };
        let dims = 1 + usize::from(trend != Trend::None) * 2 + usize::from(season != Season::None);
        let best = nelder_mead(&objective, &vec![0.0; dims], 1.0, 300 * dims);
        let params = Self::constrain(&best, trend, season);
        let (sse, level, slope, seasonal) = Self::run(values, &start, m, trend, season, params);
        let n = values.len() as f64;
        // Parameters: the smoothing weights and the initial states.
        let k = dims as f64
            + 1.0
            + f64::from(u8::from(trend != Trend::None))
            + if season == Season::None {
                0.0
            } else {
                m as f64 - 1.0
            };
        let aicc = if n - k - 1.0 > 0.0 {
            n * (sse.max(1e-300 * scale * scale) / n).ln()
                + 2.0 * k
                + 2.0 * k * (k + 1.0) / (n - k - 1.0)
        } else {
            f64::INFINITY
        };
        Some(HoltWinters {
            trend,
            season,
            params,
            aicc,
            level,
            slope,
            seasonal,
        })
    }

    /// The next `horizon` values.
    pub fn forecast(&self, horizon: usize) -> Vec<f64> {
        let phi = self.params[3];
        let m = self.seasonal.len().max(1);
        let mut damped_sum = 0.0;
        (1..=horizon)
            .map(|h| {
                damped_sum += match self.trend {
                    Trend::Damped => phi.powi(h as i32),
                    _ => 1.0,
                };
                let base = match self.trend {
                    Trend::None => self.level,
                    _ => self.level + damped_sum * self.slope,
                };
                let s = || self.seasonal[(h - 1) % m];
                match self.season {
                    Season::None => base,
                    Season::Additive => base + s(),
                    Season::Multiplicative => base * s(),
                }
            })
            .collect()
    }

    /// Free parameters to weights in their ranges: `α ∈ (0, 1)`, `β ∈ (0, α)`, `γ ∈ (0, 1 − α)`,
    /// `φ ∈ (0.8, 0.98)`.
    fn constrain(p: &[f64], trend: Trend, season: Season) -> [f64; 4] {
        let mut next = p.iter().copied();
        let alpha = 0.0001 + 0.9998 * logistic(next.next().unwrap_or(0.0));
        let (beta, phi) = match trend {
            Trend::None => (0.0, 1.0),
            _ => {
                let beta = alpha * logistic(next.next().unwrap_or(0.0));
                let phi = 0.8 + 0.18 * logistic(next.next().unwrap_or(0.0));
                (beta, if trend == Trend::Damped { phi } else { 1.0 })
            }
        };
        let gamma = match season {
            Season::None => 0.0,
            _ => (1.0 - alpha) * logistic(next.next().unwrap_or(0.0)),
        };
        [alpha, beta, gamma, phi]
    }

    /// The one-step errors' sum of squares and the final states.
    fn run(
        values: &[f64],
        start: &Start,
        m: usize,
        trend: Trend,
        season: Season,
        [alpha, beta, gamma, phi]: [f64; 4],
    ) -> (f64, f64, f64, Vec<f64>) {
        let (mut level, mut slope) = (start.level, start.slope);
        let mut seasonal = start.seasonal.clone();
        let mut sse = 0.0;
        let damp = if trend == Trend::Damped { phi } else { 1.0 };
        for (t, &value) in values.iter().enumerate() {
            let base = match trend {
                Trend::None => level,
                _ => level + damp * slope,
            };
            let s = seasonal[t % m];
            let (predicted, deseasonalised) = match season {
                Season::None => (base, value),
                Season::Additive => (base + s, value - s),
                Season::Multiplicative => (base * s, value / s),
            };
            let error = value - predicted;
            sse += error * error;
            let new_level = alpha * deseasonalised + (1.0 - alpha) * base;
            if trend != Trend::None {
                slope = beta * (new_level - level) + (1.0 - beta) * damp * slope;
            }
            seasonal[t % m] = match season {
                Season::None => s,
                Season::Additive => gamma * (value - new_level) + (1.0 - gamma) * s,
                Season::Multiplicative => gamma * (value / new_level) + (1.0 - gamma) * s,
            };
            level = new_level;
        }
        let n = values.len();
        let seasonal = (0..m).map(|k| seasonal[(n + k) % m]).collect();
        (sse, level, slope, seasonal)
    }
}

/// Initial states from the first seasons: the level and slope of the first two seasons'
/// means, the seasonal states from the classical decomposition.
struct Start {
    level: f64,
    slope: f64,
    /// Indexed by `row % m`.
    seasonal: Vec<f64>,
}

impl Start {
    fn new(values: &[f64], m: usize, season: Season) -> Option<Start> {
        // Without a season the one state is never read.
        let seasonal = match season {
            Season::None => vec![0.0],
            Season::Additive => seasonal_indices(values, m, false)?,
            Season::Multiplicative => seasonal_indices(values, m, true)?,
        };
        let span = m.max(2).min(values.len() / 2);
        let first = values[..span].iter().sum::<f64>() / span as f64;
        let second = values[span..2 * span].iter().sum::<f64>() / span as f64;
        let slope = (second - first) / span as f64;
        // The level one step before the first value.
        let level = first - slope * (span as f64 + 1.0) / 2.0;
        Some(Start {
            level,
            slope,
            seasonal,
        })
    }
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The mean absolute value (1 for an all-zero series): a scale for the parameters of a first
/// level.
fn typical(values: &[f64]) -> f64 {
    let mean = values.iter().map(|v| v.abs()).sum::<f64>() / values.len().max(1) as f64;
    if mean > 0.0 { mean } else { 1.0 }
}

/// The minimum of `f` near `start` by the Nelder–Mead simplex (reflection, expansion,
/// contraction, shrink; steps of `step` to build the first simplex), after at most
/// `evaluations` evaluations or once the simplex's values agree to 1e-10 relative.
pub fn nelder_mead(
    f: &dyn Fn(&[f64]) -> f64,
    start: &[f64],
    step: f64,
    evaluations: usize,
) -> Vec<f64> {
    let dims = start.len();
    let mut simplex: Vec<(Vec<f64>, f64)> = (0..=dims)
        .map(|i| {
            let mut point = start.to_vec();
            if i > 0 {
                point[i - 1] += step;
            }
            let value = f(&point);
            (point, value)
        })
        .collect();
    let mut used = dims + 1;
    while used < evaluations {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, worst) = (simplex[0].1, simplex[dims].1);
        if (worst - best).abs() <= 1e-10 * (best.abs() + 1e-300) {
            break;
        }
        let centroid: Vec<f64> = (0..dims)
            .map(|d| simplex[..dims].iter().map(|(p, _)| p[d]).sum::<f64>() / dims as f64)
            .collect();
        let toward = |factor: f64| -> Vec<f64> {
            centroid
                .iter()
                .zip(&simplex[dims].0)
                .map(|(c, w)| c + factor * (c - w))
                .collect()
        };
        let reflected = toward(1.0);
        let reflected_value = f(&reflected);
        used += 1;
        if reflected_value < best {
            let expanded = toward(2.0);
            let expanded_value = f(&expanded);
            used += 1;
            simplex[dims] = match expanded_value < reflected_value {
                true => (expanded, expanded_value),
                false => (reflected, reflected_value),
            };
        } else if reflected_value < simplex[dims - 1].1 {
            simplex[dims] = (reflected, reflected_value);
        } else {
            let contracted = toward(if reflected_value < worst { 0.5 } else { -0.5 });
            let contracted_value = f(&contracted);
            used += 1;
            if contracted_value < worst.min(reflected_value) {
                simplex[dims] = (contracted, contracted_value);
            } else {
                let best_point = simplex[0].0.clone();
                for (point, value) in simplex.iter_mut().skip(1) {
                    for (p, b) in point.iter_mut().zip(&best_point) {
                        *p = b + 0.5 * (*p - b);
                    }
                    *value = f(point);
                }
                used += dims;
            }
        }
    }
    simplex
        .into_iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(point, _)| point)
        .expect("a simplex has points")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nelder_mead_finds_a_quadratic_minimum() {
        let f = |p: &[f64]| (p[0] - 1.5).powi(2) + 3.0 * (p[1] + 0.5).powi(2) + 2.0;
        let best = nelder_mead(&f, &[0.0, 0.0], 1.0, 2000);
        assert!(
            (best[0] - 1.5).abs() < 1e-4 && (best[1] + 0.5).abs() < 1e-4,
            "{best:?}"
        );
    }

    #[test]
    fn theta_on_a_line_continues_with_half_its_slope_plus_the_smoothed_level() {
        // On an exact line SES's weight goes to 1 (the level is the last value) and the
        // drift adds half the slope per step: y_n + b/2·(j + 1).
        let values: Vec<f64> = (0..30).map(|t| 10.0 + 2.0 * t as f64).collect();
        let forecast = theta(&values, 3, 1).unwrap();
        for (j, value) in forecast.iter().enumerate() {
            let expected = 68.0 + 1.0 * (j as f64 + 1.0);
            assert!((value - expected).abs() < 0.05, "{forecast:?}");
        }
    }

    #[test]
    fn theta_puts_a_tested_season_back() {
        let pattern = [0.8, 1.2, 1.0, 1.0];
        let values: Vec<f64> = (0..40).map(|t| 100.0 * pattern[t % 4]).collect();
        let forecast = theta(&values, 4, 4).unwrap();
        for (j, value) in forecast.iter().enumerate() {
            assert!(
                (value - 100.0 * pattern[(40 + j) % 4]).abs() < 1.0,
                "{forecast:?}"
            );
        }
    }

    #[test]
    fn holt_winters_follows_a_trend_and_a_multiplicative_season() {
        let pattern = [0.7, 1.0, 1.3, 1.0];
        let values: Vec<f64> = (0..48)
            .map(|t| (100.0 + 2.0 * t as f64) * pattern[t % 4])
            .collect();
        let model = HoltWinters::fit_auto(&values, 4).unwrap();
        assert_ne!(model.season, Season::None, "{model:?}");
        let forecast = model.forecast(4);
        for (h, value) in forecast.iter().enumerate() {
            let t = 48 + h;
            let expected = (100.0 + 2.0 * t as f64) * pattern[t % 4];
            assert!((value - expected).abs() < 0.03 * expected, "{forecast:?}");
        }
        // A flat, noiseless series: no trend, the level.
        let flat = HoltWinters::fit_auto(&[5.0, 5.0, 5.0, 5.0, 5.0, 5.0], 1).unwrap();
        assert!((flat.forecast(2)[1] - 5.0).abs() < 1e-6);
    }
}
