//! The sine workloads of the source documents (see SPEC.md, workloads 1 and 2).

use std::f64::consts::PI;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::data::WindowSet;

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
