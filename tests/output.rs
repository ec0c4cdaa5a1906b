//! A language model's two ends. The output layer and its cross-entropy (`burn_lstm::output`):
//! the fused operation against burn's own operations (f64, 1e-12) for both weight layouts, with
//! and without a bias and a padding index; its logits without autodiff; and its errors. The
//! token embedding (`burn_lstm::embedding`): rows and gradient bit for bit against burn's
//! `embedding` on both CPU backends; and its errors.

use burn::prelude::*;
use burn::tensor::{DType, Distribution, Int};
use burn_lstm::Recurrence;
use burn_lstm::embedding::embed;
use burn_lstm::output::{OutputLayer, WeightLayout};

const TOLERANCE: f64 = 1e-12;

/// burn's CPU backends draw from one generator per process, and the tests of a file run on
/// parallel threads: a test that seeds it and expects the same draws twice holds this lock,
/// and so does every other test here that draws, so that none takes numbers in between.
static RANDOM_DRAWS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn draw_alone() -> std::sync::MutexGuard<'static, ()> {
    RANDOM_DRAWS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn max_difference(a: Tensor<2>, b: Tensor<2>) -> f64 {
    (a - b).abs().max().into_scalar::<f64>()
}

/// Loss and the gradients of features, weight and bias, computed `recurrence`'s way.
fn loss_and_gradients(
    recurrence: Recurrence,
    layout: WeightLayout,
    with_bias: bool,
    ignore: Option<usize>,
) -> (f64, Tensor<2>, Tensor<2>, Option<Tensor<2>>) {
    let device = Device::flex().autodiff();
    device.seed(7);
    let (rows, features, vocab) = (6, 4, 9);
    let options = (&device, DType::F64);
    let normal = Distribution::Normal(0.0, 1.0);
    let input = Tensor::<2>::random([rows, features], normal, options).require_grad();
    let shape = match layout {
        WeightLayout::FeaturesByVocab => [features, vocab],
        WeightLayout::VocabByFeatures => [vocab, features],
    };
    let weight = Tensor::<2>::random(shape, normal, options).require_grad();
    let bias = with_bias.then(|| Tensor::<1>::random([vocab], normal, options).require_grad());
    let layer = OutputLayer::new(weight.clone(), layout, bias.clone()).with_recurrence(recurrence);
    let targets = [3, 8, 0, 3, 5, 1];
    let loss = layer
        .cross_entropy(input.clone(), &targets, ignore)
        .unwrap();
    let value = loss.clone().into_scalar::<f64>();
    let gradients = loss.backward();
    let to_2d = |t: Tensor<1>| t.reshape([1, vocab]);
    (
        value,
        input.grad(&gradients).unwrap(),
        weight.grad(&gradients).unwrap(),
        bias.map(|b| to_2d(b.grad(&gradients).unwrap())),
    )
}

#[test]
fn fused_cross_entropy_matches_burns_operations() {
    let _alone = draw_alone();
    for layout in [WeightLayout::FeaturesByVocab, WeightLayout::VocabByFeatures] {
        for with_bias in [true, false] {
            for ignore in [None, Some(3)] {
                let case = format!("{layout:?}, bias {with_bias}, ignore {ignore:?}");
                let fused = loss_and_gradients(Recurrence::Fused, layout, with_bias, ignore);
                let composed = loss_and_gradients(Recurrence::Composed, layout, with_bias, ignore);
                assert!((fused.0 - composed.0).abs() < TOLERANCE, "{case}: loss");
                assert!(fused.0 > 0.0, "{case}: a positive loss");
                assert!(
                    max_difference(fused.1, composed.1) < TOLERANCE,
                    "{case}: d features"
                );
                assert!(
                    max_difference(fused.2, composed.2) < TOLERANCE,
                    "{case}: d weight"
                );
                if let (Some(f), Some(c)) = (fused.3, composed.3) {
                    assert!(max_difference(f, c) < TOLERANCE, "{case}: d bias");
                }
            }
        }
    }
}

/// The layer's logits of `features`, fused and by burn's operations.
fn fused_and_composed_logits(layer: &OutputLayer, features: &Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let fused = layer.logits(features.clone()).unwrap();
    let composed = layer
        .clone()
        .with_recurrence(Recurrence::Composed)
        .logits(features.clone())
        .unwrap();
    (fused, composed)
}

#[test]
fn logits_without_autodiff_match_burns_operations() {
    let _alone = draw_alone();
    let device = Device::flex();
    let options = (&device, DType::F64);
    let normal = Distribution::Normal(0.0, 1.0);
    let features = Tensor::<2>::random([5, 3], normal, options);
    for layout in [WeightLayout::FeaturesByVocab, WeightLayout::VocabByFeatures] {
        let shape = match layout {
            WeightLayout::FeaturesByVocab => [3, 11],
            WeightLayout::VocabByFeatures => [11, 3],
        };
        let weight = Tensor::<2>::random(shape, normal, options);
        let bias = Tensor::<1>::random([11], normal, options);
        let layer = OutputLayer::new(weight.clone(), layout, Some(bias.clone()));
        let (fused, composed) = fused_and_composed_logits(&layer, &features);
        assert_eq!(fused.dims(), [5, 11]);
        assert!(max_difference(fused, composed) < TOLERANCE, "{layout:?}");
        assert_eq!(layer.sizes(), (3, 11));
    }
}

/// The few-row logits of generation (the weight streamed in storage order, or the gemm
/// crate for a transposed weight) against burn's operations, in f32.
#[test]
fn few_rows_logits_in_f32_match_burns_operations() {
    let _alone = draw_alone();
    let device = Device::flex();
    let normal = Distribution::Normal(0.0, 1.0);
    for rows in [1, 3, 15] {
        let features = Tensor::<2>::random([rows, 64], normal, &device);
        for layout in [WeightLayout::FeaturesByVocab, WeightLayout::VocabByFeatures] {
            let shape = match layout {
                WeightLayout::FeaturesByVocab => [64, 1001],
                WeightLayout::VocabByFeatures => [1001, 64],
            };
            let weight = Tensor::<2>::random(shape, normal, &device);
            let bias = Tensor::<1>::random([1001], normal, &device);
            let layer = OutputLayer::new(weight, layout, Some(bias));
            let (fused, composed) = fused_and_composed_logits(&layer, &features);
            assert_eq!(fused.dims(), [rows, 1001]);
            // Sums of 64 products of magnitude about 1, in f32.
            let difference = max_difference(fused, composed);
            assert!(difference < 1e-4, "{rows} rows, {layout:?}: {difference}");
        }
    }
}

/// A generation step's logits (one row) have the same bits on every call, whether the
/// vocabulary's column blocks ran on the calling thread or over the cores: the first calls of
/// a shape try both ways in turn (more than forty calls cover the trial).
#[test]
fn one_rows_logits_have_the_same_bits_whichever_way_the_blocks_ran() {
    let _alone = draw_alone();
    let device = Device::flex();
    let normal = Distribution::Normal(0.0, 1.0);
    let features = Tensor::<2>::random([1, 37], normal, &device);
    let weight = Tensor::<2>::random([37, 5003], normal, &device);
    let bias = Tensor::<1>::random([5003], normal, &device);
    let layer = OutputLayer::new(weight, WeightLayout::FeaturesByVocab, Some(bias));
    let bits = |logits: Tensor<2>| -> Vec<u32> {
        let values: Vec<f32> = logits.into_data().try_to_vec::<f32>().unwrap();
        values.iter().map(|value| value.to_bits()).collect()
    };
    let first = bits(layer.logits(features.clone()).unwrap());
    for call in 1..40 {
        let again = bits(layer.logits(features.clone()).unwrap());
        assert!(again == first, "call {call} gave other bits");
    }
}

#[test]
fn bad_features_and_targets_are_errors_that_say_what_is_wrong() {
    let device = Device::flex();
    let layer = OutputLayer::new(
        Tensor::zeros([4, 6], &device),
        WeightLayout::FeaturesByVocab,
        None,
    );
    let wide = layer.logits(Tensor::zeros([2, 5], &device)).unwrap_err();
    assert_eq!(
        wide.to_string(),
        "features: expected shape [rows, 4], got [2, 5]"
    );
    let features = Tensor::<2>::zeros([2, 4], &device);
    let count = layer
        .cross_entropy(features.clone(), &[1], None)
        .unwrap_err();
    assert_eq!(
        count.to_string(),
        "targets: expected shape one per row of the features ([2]), got [1]"
    );
    let outside = layer
        .cross_entropy(features.clone(), &[1, 6], None)
        .unwrap_err();
    assert!(
        outside
            .to_string()
            .contains("target 6 of row 1 is not a word of the vocabulary of 6"),
        "{outside}"
    );
    // A padding index outside the vocabulary is not an error: those rows do not count, on
    // either path, and a batch of nothing but padding has a loss of 0.
    for recurrence in [Recurrence::Fused, Recurrence::Composed] {
        let layer = layer.clone().with_recurrence(recurrence);
        let one = layer
            .cross_entropy(features.clone(), &[1, 99], Some(99))
            .unwrap();
        assert!(
            (one.into_scalar::<f64>() - 6f64.ln()).abs() < 1e-6,
            "{recurrence:?}"
        );
        let none = layer
            .cross_entropy(features.clone(), &[99, 99], Some(99))
            .unwrap();
        assert_eq!(none.into_scalar::<f64>(), 0.0, "{recurrence:?}");
    }
}

/// The weight's gradient of `Σ output²`, read back as f64.
fn embedding_gradient(weight: &Tensor<2>, output: Tensor<3>) -> Vec<f64> {
    let gradients = (output.clone() * output).sum().backward();
    let grad = weight.grad(&gradients).unwrap();
    grad.into_data().convert::<f64>().try_to_vec().unwrap()
}

/// The embedding's rows and its weight's gradient, bit for bit against burn's `embedding`, on
/// both CPU backends (ndarray with its feature) in f32 and f64, with repeated tokens: the
/// gradient adds a word's rows in token order, as burn does.
#[test]
fn embedding_rows_and_gradient_are_burns_bit_for_bit() {
    let _alone = draw_alone();
    #[allow(unused_mut)] // pushed to with the ndarray feature
    let mut devices = vec![Device::flex().autodiff()];
    // burn-ndarray is deprecated in burn 0.22 but remains a supported backend of this crate.
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    devices.push(Device::ndarray().autodiff());
    let tokens = [3usize, 0, 3, 7, 3, 1, 0, 9, 3, 2, 7, 7];
    let indices: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    let bits = |values: Vec<f64>| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let read = |t: Tensor<3>| t.into_data().convert::<f64>().try_to_vec::<f64>().unwrap();
    for device in devices {
        for dtype in [DType::F32, DType::F64] {
            let normal = Distribution::Normal(0.0, 1.0);
            let weight = Tensor::<2>::random([10, 6], normal, (&device, dtype)).require_grad();
            let ours = embed(weight.clone(), &tokens, [3, 4]).unwrap();
            let data = TensorData::new(indices.clone(), [3, 4]);
            let burns = burn::tensor::module::embedding(
                weight.clone(),
                Tensor::<2, Int>::from_data(data, &device),
            );
            assert_eq!(ours.dims(), [3, 4, 6]);
            let case = format!("{device:?} {dtype:?}");
            assert_eq!(
                bits(read(ours.clone())),
                bits(read(burns.clone())),
                "{case} rows"
            );
            assert_eq!(
                bits(embedding_gradient(&weight, ours)),
                bits(embedding_gradient(&weight, burns)),
                "{case} gradient"
            );
        }
    }
}

#[test]
fn embedding_errors_say_what_is_wrong() {
    let weight = Tensor::<2>::zeros([4, 2], &Device::flex());
    let short = embed(weight.clone(), &[0, 1, 2], [2, 2]).unwrap_err();
    assert!(short.to_string().contains("batch · seq = 4"), "{short}");
    let unknown = embed(weight, &[0, 1, 4, 2], [2, 2]).unwrap_err();
    assert!(
        unknown.to_string().contains("token 4 at position 2"),
        "{unknown}"
    );
}
