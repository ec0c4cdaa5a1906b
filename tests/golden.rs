//! Every PyTorch golden case (`BURN_LSTM_GOLDEN_DIR`, default the crate's `tests/data/golden`)
//! on every backend and both ways of computing (the fused kernels and the composed burn
//! operations): outputs, final states and the gradients of both losses with respect to the
//! input, the initial state and every parameter.
//!
//! Tolerances (absolute): f64 cases 1e-10; f32 cases 1e-5, and 5e-5 for g8's gradients
//! (200 steps of backpropagation through time in f32).
//!
//! Every case's output and final state also come from a forward pass in inference (no
//! autodiff), which has ways of its own.
//!
//! The fused path runs once more per CPU kernel this machine offers (AVX-512 tiles, AVX2
//! tiles, the gemm crate) and way of computing (the input projection stacked or apart;
//! inference by the column team of four threads), each forced through `BURN_LSTM_KERNEL` and
//! `BURN_LSTM_INPUT_PROJECTION` or `BURN_LSTM_THREAD_SPLIT` in a process of its own.

mod common;

use burn::prelude::*;
use burn::tensor::DType;
use burn_lstm::Recurrence;
use burn_lstm::cpu::{CpuKernel, KERNEL_VARIABLE, KernelChoice, kernel_choice, kernel_decisions};
#[cfg(feature = "flex")]
use burn_lstm::{INPUT_PROJECTION_VARIABLE, THREAD_SPLIT_VARIABLE};
use common::golden::{GoldenCase, check_case, golden_files};

fn tolerances(case: &GoldenCase) -> (f64, f64) {
    match case.is_f32() {
        false => (1e-10, 1e-10),
        true if case.name.starts_with("g8") => (1e-5, 5e-5),
        true => (1e-5, 1e-5),
    }
}

/// Runs every case that `device` can represent; a case it cannot is a failure, not a skip.
fn check_all(backend: &str, device: &Device, f32_only: bool) {
    for recurrence in [Recurrence::Fused, Recurrence::Composed] {
        check_all_with(backend, device, f32_only, recurrence);
    }
}

fn check_all_with(backend: &str, device: &Device, f32_only: bool, recurrence: Recurrence) {
    let backend = format!("{backend} {recurrence:?}");
    let mut failures = Vec::new();
    let mut checked = 0;
    println!("{backend}: case            max |Δ| forward   max |Δ| gradient   (worst gradient)");
    for path in golden_files() {
        let case = GoldenCase::load(&path);
        if f32_only && !case.is_f32() {
            continue;
        }
        if !device.supports_dtype(case.dtype) {
            failures.push(format!(
                "{}: {backend} cannot compute in {:?}",
                case.name, case.dtype
            ));
            continue;
        }
        let errors = check_case(&case, device, recurrence);
        let (forward_tol, gradient_tol) = tolerances(&case);
        println!(
            "{backend}: {:<14} {:>16.3e}  {:>17.3e}   ({})",
            case.name, errors.forward, errors.gradients, errors.worst_gradient
        );
        if errors.forward > forward_tol {
            failures.push(format!(
                "{}: forward error {:e} > {forward_tol:e}",
                case.name, errors.forward
            ));
        }
        if errors.gradients > gradient_tol {
            failures.push(format!(
                "{}: gradient error {:e} > {gradient_tol:e} at {}",
                case.name, errors.gradients, errors.worst_gradient
            ));
        }
        checked += 1;
    }
    assert!(checked > 0, "{backend}: no golden case was checked");
    assert!(failures.is_empty(), "{backend}: {}", failures.join("\n"));
}

#[cfg(feature = "flex")]
#[test]
fn golden_cases_on_flex() {
    check_all("flex", &Device::flex(), false);
}

/// The fused path's cases once per kernel of this CPU and place of the input projection: each
/// in a child process of this test binary with `BURN_LSTM_KERNEL` (and
/// `BURN_LSTM_INPUT_PROJECTION`) set (the variable is read once per process), running
/// [`golden_cases_with_the_forced_kernel`]. A kernel the CPU lacks cannot be tested here;
/// the list printed says which were.
#[cfg(feature = "flex")]
#[test]
fn golden_cases_with_every_cpu_kernel() {
    if std::env::var_os(KERNEL_VARIABLE).is_some() {
        return; // a child run with one kernel forced: the parent's work is done elsewhere
    }
    let kernels = CpuKernel::available();
    println!("kernels this CPU offers: {kernels:?}");
    // Each kernel with the input projection in each place (stacked on the recurrent
    // product, or apart before the time loop), and inference by the column team (of four
    // threads whatever the machine has: two a direction).
    for kernel in kernels {
        for way in ["stacked", "apart", "columns"] {
            let mut child = std::process::Command::new(std::env::current_exe().expect("this test"));
            child
                .args([
                    "golden_cases_with_the_forced_kernel",
                    "--exact",
                    "--ignored",
                ])
                .args(["--nocapture", "--test-threads", "1"])
                .env(KERNEL_VARIABLE, kernel.name());
            match way {
                "columns" => child
                    .env(THREAD_SPLIT_VARIABLE, way)
                    .env("RAYON_NUM_THREADS", "4"),
                _ => child.env(INPUT_PROJECTION_VARIABLE, way),
            };
            let output = child.output().expect("run the test binary again");
            let stdout = String::from_utf8_lossy(&output.stdout);
            println!("{stdout}");
            assert!(
                output.status.success() && stdout.contains("1 passed"),
                "{kernel}, {way}: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

/// The child of [`golden_cases_with_every_cpu_kernel`]: every case on flex's fused path with
/// the forced kernel, which then must be the only one that served.
#[cfg(feature = "flex")]
#[test]
#[ignore = "run by golden_cases_with_every_cpu_kernel with BURN_LSTM_KERNEL set"]
fn golden_cases_with_the_forced_kernel() {
    let Ok(KernelChoice::Forced(kernel)) = kernel_choice() else {
        panic!("run with {KERNEL_VARIABLE} naming a kernel");
    };
    check_all_with(
        &format!("flex {kernel}"),
        &Device::flex(),
        false,
        Recurrence::Fused,
    );
    // Forced, the column team served every inference call it can (the gemm crate's
    // products excepted, which the team does not run).
    if std::env::var(THREAD_SPLIT_VARIABLE).as_deref() == Ok("columns") && kernel != CpuKernel::Gemm
    {
        assert!(
            burn_lstm::testing::column_team_calls() > 0,
            "the column team never ran"
        );
    }
    let decisions = kernel_decisions();
    assert!(!decisions.is_empty(), "no kernel decision was made");
    for decision in decisions {
        assert_eq!(decision.kernel, kernel, "{}", decision.class);
    }
}

#[cfg(feature = "ndarray")]
#[test]
#[allow(deprecated)]
fn golden_cases_on_ndarray() {
    check_all("ndarray", &Device::ndarray(), false);
}

/// wgpu computes in f32 (WGSL has no f64), so it runs the `_f32` cases, on the CubeCL
/// kernels (checked to have run: forward and backward launches) and on the composed
/// operations.
#[cfg(feature = "wgpu")]
#[test]
fn golden_f32_cases_on_wgpu() {
    let device = burn_lstm_programs::backend::BackendChoice::Wgpu
        .device()
        .expect("a wgpu adapter");
    assert!(device.supports_dtype(DType::F32));
    let cases = golden_files()
        .iter()
        .filter(|path| GoldenCase::load(path).is_f32())
        .count();
    let launches = burn_lstm::testing::recurrence_kernel_launches();
    check_all_with("wgpu", &device, true, Recurrence::Fused);
    // At least a forward and a backward launch per case.
    let launched = burn_lstm::testing::recurrence_kernel_launches() - launches;
    assert!(
        launched >= 2 * cases,
        "{cases} cases ran {launched} recurrence kernels"
    );
    check_all_with("wgpu", &device, true, Recurrence::Composed);
}

#[test]
fn golden_directory_has_both_precisions() {
    let cases: Vec<GoldenCase> = golden_files().iter().map(|p| GoldenCase::load(p)).collect();
    assert!(cases.iter().any(|c| c.dtype == DType::F64));
    assert!(cases.iter().any(|c| c.dtype == DType::F32));
}
