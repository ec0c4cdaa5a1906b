//! Helpers shared by the integration tests: devices, and golden-vector reading.
#![allow(dead_code)]

pub mod data;
pub mod golden;
pub mod program;

use burn::prelude::*;

/// The CPU devices every test runs on: flex and ndarray (where compiled in).
pub fn cpu_devices() -> Vec<(&'static str, Device)> {
    #[allow(unused_mut)]
    let mut devices = Vec::new();
    #[cfg(feature = "flex")]
    devices.push(("flex", Device::flex()));
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    devices.push(("ndarray", Device::ndarray()));
    assert!(
        !devices.is_empty(),
        "build with the `flex` or `ndarray` feature"
    );
    devices
}

/// Largest absolute difference between two tensors' values (any float dtype), checking shapes.
pub fn max_abs_diff(what: &str, actual: TensorData, expected: &TensorData) -> f64 {
    assert_eq!(
        actual.shape(),
        expected.shape(),
        "{what}: shape differs from the reference"
    );
    actual
        .iter::<f64>()
        .zip(expected.iter::<f64>())
        .map(|(a, b)| {
            if a.is_nan() || b.is_nan() {
                f64::INFINITY
            } else {
                (a - b).abs()
            }
        })
        .fold(0.0, f64::max)
}
