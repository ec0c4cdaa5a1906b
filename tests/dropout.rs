//! Dropout between layers: active in training, absent in evaluation, reproducible with a seed.
//!
//! Its own test binary: the device's random generator is shared by every thread of a
//! process, so a seeded run must not share the process with other tests drawing from it.

mod common;

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn_lstm::LstmConfig;
use common::max_abs_diff;

fn random(shape: [usize; 3], device: &Device) -> Tensor<3> {
    Tensor::random(shape, Distribution::Uniform(-1.0, 1.0), device)
}

#[test]
fn dropout_acts_in_training_only_and_is_reproducible() {
    let device = Device::flex().autodiff();
    let lstm = LstmConfig::new(3, 8)
        .with_num_layers(2)
        .with_dropout(0.5)
        .init(&device);
    let input = random([4, 6, 3], &device);
    let run = |seed: u64| {
        device.seed(seed);
        lstm.forward(input.clone(), None).0.into_data()
    };
    let (first, again, other) = (run(7), run(7), run(8));
    assert_eq!(
        max_abs_diff("same seed", first.clone(), &again),
        0.0,
        "a seeded run repeats exactly"
    );
    assert!(
        max_abs_diff("other seed", first.clone(), &other) > 1e-3,
        "another seed drops other units"
    );

    let eval = lstm.valid();
    let eval_input = input.clone().without_autodiff();
    let a = eval.forward(eval_input.clone(), None).0.into_data();
    let b = eval.forward(eval_input.clone(), None).0.into_data();
    assert_eq!(max_abs_diff("eval", a.clone(), &b), 0.0);
    // Without dropout the same weights give the evaluation output; with it, training differs.
    let no_dropout = LstmConfig::new(3, 8)
        .with_num_layers(2)
        .init(&device.clone().without_autodiff());
    let no_dropout = no_dropout
        .load_pytorch_parameters(
            eval.pytorch_parameters(),
            &device.clone().without_autodiff(),
        )
        .unwrap();
    let c = no_dropout.forward(eval_input, None).0.into_data();
    assert!(max_abs_diff("eval vs no dropout", a.clone(), &c) < 1e-6);
    assert!(max_abs_diff("train vs eval", first, &a) > 1e-3);
}
