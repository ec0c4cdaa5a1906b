use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn_lstm::LstmConfig;
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
fn main() {
    let device = Device::flex();
    let bi = std::env::args().any(|a| a == "bi");
    let train = std::env::args().any(|a| a == "train");
    let device = if train { device.autodiff() } else { device };
    let x = Tensor::<3>::random([64, 100, 128], Distribution::Normal(0.0, 1.0), &device);
    let lstm = LstmConfig::new(128, 256)
        .with_num_layers(2)
        .with_bidirectional(bi)
        .init(&device);
    for _ in 0..5 {
        let t = std::time::Instant::now();
        if train {
            let loss = lstm.forward(x.clone(), None).0.sum();
            let _g = loss.backward();
        } else {
            let m = lstm.valid();
            let _ = m.forward(x.clone(), None).0.into_data();
        }
        println!("{:.1} ms", t.elapsed().as_secs_f64() * 1000.0);
    }
}
