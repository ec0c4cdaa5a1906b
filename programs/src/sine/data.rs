//! The sine programs' data: the two recipes' sine series and windows, and the windows every
//! sequence regression reads ([`WindowSet`]: equal-length windows of a univariate series,
//! each predicting the value after it).

use burn::prelude::*;
use rand::seq::SliceRandom;

use crate::error::{Error, Result};
use std::f64::consts::PI;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `n` evenly spaced values from `start` to `end` inclusive (NumPy's `linspace`).
fn linspace(start: f64, end: f64, n: usize) -> impl Iterator<Item = f64> {
    let step = (end - start) / (n - 1) as f64;
    (0..n).map(move |i| start + step * i as f64)
}

/// The Keras recipe's data: `count` sequences `sin(linspace(s, s + 2π, 50))` with
/// `s ~ U(0, 1)`; the first 49 values are the input, the 50th the target.
pub fn keras_sine_windows(count: usize, seed: u64) -> WindowSet {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut inputs = Vec::with_capacity(count * 49);
    let mut targets = Vec::with_capacity(count);
    for _ in 0..count {
        let start: f64 = rng.random();
        let sequence: Vec<f32> = linspace(start, start + 2.0 * PI, 50)
            .map(|x| x.sin() as f32)
            .collect();
        inputs.extend_from_slice(&sequence[..49]);
        targets.push(sequence[49]);
    }
    WindowSet::new(inputs, targets, 49)
}

/// The Keras recipe's test: the window `sin(linspace(0, 2π, 49))` and the value that follows
/// it on the same grid, `sin(2π + 2π/48)`.
pub fn seed_prediction_window() -> (Vec<f32>, f32) {
    let window: Vec<f32> = linspace(0.0, 2.0 * PI, 49)
        .map(|x| x.sin() as f32)
        .collect();
    let step = 2.0 * PI / 48.0;
    (window, (2.0 * PI + step).sin() as f32)
}

/// The PyTorch recipe's series: `sin(arange(-10, 10, 0.1))`, 200 values.
pub fn torch_sine_series() -> Vec<f32> {
    (0..200)
        .map(|i| (-10.0 + 0.1 * i as f64).sin() as f32)
        .collect()
}

/// A set of equal-length input windows (one feature per step) and their targets.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowSet {
    /// `[count, window]`, row-major.
    inputs: Vec<f32>,
    /// `[count]`
    targets: Vec<f32>,
    window: usize,
}

impl WindowSet {
    /// Windows from rows of inputs and their targets.
    pub fn new(inputs: Vec<f32>, targets: Vec<f32>, window: usize) -> Self {
        assert_eq!(
            inputs.len(),
            targets.len() * window,
            "inputs must be [count, window]"
        );
        Self {
            inputs,
            targets,
            window,
        }
    }

    /// Every window of `window` consecutive values of `series` with the value after it as the
    /// target, the first `count` of them (all when `None`).
    ///
    /// # Errors
    /// When the series is too short for a single window and its target.
    pub fn from_series(series: &[f32], window: usize, count: Option<usize>) -> Result<Self> {
        if window == 0 || series.len() <= window {
            return Err(Error::Config(format!(
                "the series has {} values; a window of {window} and its target need at least {}",
                series.len(),
                window + 1
            )));
        }
        let available = series.len() - window;
        let count = count.unwrap_or(available).min(available);
        let mut inputs = Vec::with_capacity(count * window);
        let mut targets = Vec::with_capacity(count);
        for start in 0..count {
            inputs.extend_from_slice(&series[start..start + window]);
            targets.push(series[start + window]);
        }
        Ok(Self::new(inputs, targets, window))
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no windows.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Steps per window.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Input values of window `index`.
    pub fn input(&self, index: usize) -> &[f32] {
        &self.inputs[index * self.window..(index + 1) * self.window]
    }

    /// All targets in order.
    pub fn targets(&self) -> &[f32] {
        &self.targets
    }

    /// The windows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        let mut inputs = Vec::with_capacity(indices.len() * self.window);
        for &index in indices {
            inputs.extend_from_slice(self.input(index));
        }
        Self::new(
            inputs,
            indices.iter().map(|&i| self.targets[i]).collect(),
            self.window,
        )
    }

    /// A random split: `fraction` of the windows (rounded up) for validation, the rest for
    /// training, each in series order.
    pub fn split_random(&self, fraction: f64, seed: u64) -> (Self, Self) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        let valid_count = (self.len() as f64 * fraction).ceil() as usize;
        let (valid, train) = order.split_at(valid_count);
        let (mut train, mut valid) = (train.to_vec(), valid.to_vec());
        train.sort_unstable();
        valid.sort_unstable();
        (self.select(&train), self.select(&valid))
    }

    /// A split by time: the last `fraction` of the windows (rounded up) for validation.
    pub fn split_by_time(&self, fraction: f64) -> (Self, Self) {
        let valid_count = (self.len() as f64 * fraction).ceil() as usize;
        let cut = self.len() - valid_count.min(self.len());
        let train: Vec<usize> = (0..cut).collect();
        let valid: Vec<usize> = (cut..self.len()).collect();
        (self.select(&train), self.select(&valid))
    }

    /// The windows at `indices` as tensors: inputs `[n, window, 1]`, targets `[n, 1]`.
    pub fn tensors(&self, indices: &[usize], device: &Device) -> (Tensor<3>, Tensor<2>) {
        let selected = self.select(indices);
        let count = selected.len();
        (
            Tensor::from_data(
                TensorData::new(selected.inputs, [count, self.window, 1]),
                device,
            ),
            Tensor::from_data(TensorData::new(selected.targets, [count, 1]), device),
        )
    }
}
