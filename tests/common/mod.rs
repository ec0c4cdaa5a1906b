//! Helpers shared by the integration tests: devices, and golden-vector reading.
#![allow(dead_code)]

pub mod data;
pub mod golden;
pub mod program;

use burn::prelude::*;

/// The CPU devices every test runs on: flex and ndarray (where compiled in).
#[allow(deprecated)] // burn-ndarray's device, deprecated in burn 0.22 but supported here
pub fn cpu_devices() -> Vec<(&'static str, Device)> {
    let devices: Vec<(&'static str, Device)> = [
        cfg!(feature = "flex").then(|| ("flex", flex_device())),
        cfg!(feature = "ndarray").then(|| ("ndarray", ndarray_device())),
    ]
    .into_iter()
    .flatten()
    .collect();
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

#[cfg(feature = "flex")]
fn flex_device() -> Device {
    Device::flex()
}

#[cfg(not(feature = "flex"))]
fn flex_device() -> Device {
    unreachable!("flex is not compiled in")
}

#[cfg(feature = "ndarray")]
#[allow(deprecated)]
fn ndarray_device() -> Device {
    Device::ndarray()
}

#[cfg(not(feature = "ndarray"))]
fn ndarray_device() -> Device {
    unreachable!("ndarray is not compiled in")
}
