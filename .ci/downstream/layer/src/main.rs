//! A user's model with an `Lstm` inside, trained one step with burn's autodiff.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn_lstm::{Lstm, LstmConfig};

#[derive(Module, Debug)]
struct Forecaster {
    lstm: Lstm,
    head: Linear,
}

impl Forecaster {
    fn forward(&self, series: Tensor<3>) -> Tensor<2> {
        let (_, state) = self.lstm.forward(series, None);
        self.head.forward(self.lstm.final_output(&state))
    }
}

fn main() {
    let device = Device::flex().autodiff();
    let model = Forecaster {
        lstm: LstmConfig::new(1, 16).with_num_layers(2).init(&device),
        head: LinearConfig::new(16, 1).init(&device),
    };
    let input = Tensor::<3>::ones([4, 10, 1], &device);
    let loss = model.forward(input).powf_scalar(2.0).mean();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let mut optimizer = AdamConfig::new().init();
    let model = optimizer.step(1e-3, model, grads);
    println!("layer-user: {}", model.lstm);
}
