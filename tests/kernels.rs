//! `BURN_LSTM_KERNEL` as a user meets it: an unknown name, or a kernel this CPU does not run,
//! is an error from `try_forward` naming what is offered (never a panic from inside a
//! kernel); a forced kernel is the one that serves. The variable is read once per process,
//! so each case runs in a child process of this test binary.

use std::process::Command;

use burn::prelude::*;
use burn_lstm::cpu::{
    CpuKernel, KERNEL_VARIABLE, KernelChoice, call_decisions, kernel_choice, kernel_decisions,
};
use burn_lstm::{INPUT_PROJECTION_VARIABLE, LstmConfig, THREAD_SPLIT_VARIABLE};

/// Runs the ignored test `name` of this binary with `BURN_LSTM_KERNEL=value`.
fn child(name: &str, value: &str) -> (bool, String) {
    child_with(name, KERNEL_VARIABLE, value)
}

/// Runs the ignored test `name` of this binary with `variable=value`.
fn child_with(name: &str, variable: &str, value: &str) -> (bool, String) {
    let output = Command::new(std::env::current_exe().expect("this test"))
        .args([name, "--exact", "--ignored", "--nocapture"])
        .env(variable, value)
        .output()
        .expect("run the test binary again");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success() && text.contains("1 passed"), text)
}

#[test]
fn bad_kernel_names_are_errors_and_forced_kernels_serve() {
    if std::env::var_os(KERNEL_VARIABLE).is_some() {
        return; // a child: the cases below are the parent's
    }
    let mut refused = vec!["avx1024".to_string(), "AVX2".to_string()];
    refused.extend(
        [CpuKernel::Avx512, CpuKernel::Avx2]
            .into_iter()
            .filter(|kernel| !kernel.is_available())
            .map(|kernel| kernel.name().to_string()),
    );
    for value in refused {
        let (passed, text) = child("forward_reports_a_bad_kernel_variable", &value);
        assert!(passed, "{KERNEL_VARIABLE}={value}: {text}");
    }
    for kernel in CpuKernel::available() {
        let (passed, text) = child("a_forced_kernel_serves_every_product", kernel.name());
        assert!(passed, "{kernel}: {text}");
    }
}

#[test]
#[ignore = "run by bad_kernel_names_are_errors_and_forced_kernels_serve"]
fn forward_reports_a_bad_kernel_variable() {
    let value = std::env::var(KERNEL_VARIABLE).expect("run with the variable set");
    let text = forward_error("a bad kernel variable is an error");
    assert!(
        text.starts_with(&format!("{KERNEL_VARIABLE}={value}: ")),
        "{text}"
    );
    let reason_named = text.contains("expected auto, fastest, avx512, avx2 or gemm")
        || text.contains("this CPU does not run");
    assert!(reason_named, "{text}");
    assert_eq!(kernel_choice(), Err(text));
}

#[test]
#[ignore = "run by bad_kernel_names_are_errors_and_forced_kernels_serve"]
fn a_forced_kernel_serves_every_product() {
    let Ok(KernelChoice::Forced(kernel)) = kernel_choice() else {
        panic!("run with {KERNEL_VARIABLE} naming a kernel");
    };
    let device = Device::flex().autodiff();
    let lstm = LstmConfig::new(3, 20)
        .with_num_layers(2)
        .with_bidirectional(true)
        .init(&device);
    let input = Tensor::<3>::ones([9, 7, 3], &device).require_grad();
    let (output, _) = lstm.forward(input.clone(), None);
    let _ = output.sum().backward();
    let decisions = kernel_decisions();
    assert!(decisions.len() >= 3, "{decisions:?}"); // forward, backward, element-wise
    for decision in decisions {
        assert_eq!(decision.kernel, kernel, "{}", decision.class);
        assert!(decision.timings.is_empty(), "a forced kernel is not timed");
    }
}

/// `BURN_LSTM_INPUT_PROJECTION` as a user meets it: an unknown way is an error from
/// `try_forward` naming the ways there are.
#[test]
fn a_bad_input_projection_is_an_error() {
    if std::env::var_os(INPUT_PROJECTION_VARIABLE).is_some() {
        return; // a child
    }
    let (passed, text) = child_with(
        "forward_reports_a_bad_input_projection",
        INPUT_PROJECTION_VARIABLE,
        "sideways",
    );
    assert!(passed, "{text}");
}

#[test]
#[ignore = "run by a_bad_input_projection_is_an_error"]
fn forward_reports_a_bad_input_projection() {
    let text = forward_error("a bad input projection variable is an error");
    assert_eq!(
        text,
        format!("{INPUT_PROJECTION_VARIABLE}=sideways: unknown (auto, stacked or apart)")
    );
}

/// `BURN_LSTM_THREAD_SPLIT` as a user meets it: an unknown way is an error from
/// `try_forward` naming the ways there are.
#[test]
fn a_bad_thread_split_is_an_error() {
    if std::env::var_os(THREAD_SPLIT_VARIABLE).is_some() {
        return; // a child
    }
    let (passed, text) = child_with(
        "forward_reports_a_bad_thread_split",
        THREAD_SPLIT_VARIABLE,
        "diagonal",
    );
    assert!(passed, "{text}");
}

#[test]
#[ignore = "run by a_bad_thread_split_is_an_error"]
fn forward_reports_a_bad_thread_split() {
    let text = forward_error("a bad thread split variable is an error");
    assert_eq!(
        text,
        format!("{THREAD_SPLIT_VARIABLE}=diagonal: unknown (auto, rows or columns)")
    );
}

/// What `try_forward` of a small layer on flex says when it fails (`expected`: why it must).
fn forward_error(expected: &str) -> String {
    let device = Device::flex();
    let lstm = LstmConfig::new(3, 4).init(&device);
    lstm.try_forward(Tensor::zeros([2, 5, 3], &device), None)
        .expect_err(expected)
        .to_string()
}

/// Where the step products are too few to be packed (two steps, one block of rows), they go
/// to the gemm crate, whose sums a tile projection would not continue: such a layer runs its
/// input projection stacked, untimed; a longer one is timed both ways.
#[test]
fn too_few_steps_to_pack_keep_the_projection_stacked() {
    if std::env::var_os(INPUT_PROJECTION_VARIABLE).is_some()
        || std::env::var_os(KERNEL_VARIABLE).is_some()
    {
        return; // a child
    }
    let device = Device::flex();
    let lstm = LstmConfig::new(3, 4).init(&device);
    // Enough calls to decide a class of short calls (each way runs up to 16 times on trial).
    for steps in [2, 8] {
        for _ in 0..40 {
            let _ = lstm.forward(Tensor::zeros([2, steps, 3], &device), None);
        }
    }
    let classes: Vec<String> = call_decisions().into_iter().map(|d| d.class).collect();
    assert!(
        classes.iter().any(|class| class.contains(" T8 ")),
        "{classes:?}"
    );
    assert!(
        !classes.iter().any(|class| class.contains(" T2 ")),
        "{classes:?}"
    );
}
