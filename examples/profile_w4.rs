use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::{Distribution, Int};
use burn_lstm::LstmInit;
use burn_lstm::models::LanguageModelConfig;
use burn_lstm::train::{OptimizerConfig, clip_global_norm};
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
fn main() {
    let device = Device::flex().autodiff();
    let (batch, seq, vocab, size) = (20, 20, 10_000, 200);
    let tokens = Tensor::<2, Int>::random(
        [batch, seq + 1],
        Distribution::Uniform(0.0, vocab as f64),
        &device,
    );
    let inputs = tokens.clone().slice(s![.., 0..seq]);
    let targets = tokens.slice(s![.., 1..seq + 1]).reshape([batch * seq]);
    let target_indices: Vec<usize> = targets
        .clone()
        .into_data()
        .iter::<i64>()
        .map(|t| t as usize)
        .collect();
    let _ = &targets;
    let config = LanguageModelConfig::new(vocab, size, size)
        .with_num_layers(2)
        .with_init(LstmInit::uniform(0.1));
    let mut model = config.init(&device);
    let mut optim = OptimizerConfig::Sgd.init();
    let mut state = None;
    for i in 0..30 {
        let t = std::time::Instant::now();
        let (loss, next) = model.next_token_loss(inputs.clone(), &target_indices, state.take());
        state = Some(next.detach());
        let loss = loss.mul_scalar(seq as f64);
        let t1 = t.elapsed();
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        let t2 = t.elapsed();
        clip_global_norm(&model, &mut grads, 5.0);
        let t3 = t.elapsed();
        model = optim.step(1.0, model, grads);
        let t4 = t.elapsed();
        if i >= 25 {
            println!(
                "fwd {:.1} bwd {:.1} clip {:.1} step {:.1} ms",
                t1.as_secs_f64() * 1e3,
                (t2 - t1).as_secs_f64() * 1e3,
                (t3 - t2).as_secs_f64() * 1e3,
                (t4 - t3).as_secs_f64() * 1e3
            );
        }
    }
}
