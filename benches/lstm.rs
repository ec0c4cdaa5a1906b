//! Speed of our LSTM against burn's own `nn::Lstm`, side by side in one process, on the
//! workloads of the source documents (W1–W4), plus the matrix-multiply limit of W3.
//!
//! ```text
//! cargo bench --bench lstm                      # flex, every workload
//! cargo bench --bench lstm -- --quick           # under a minute
//! cargo bench --bench lstm -- --backend ndarray --only W3 --out bench.json
//! ```
//!
//! Prints a table of medians (with min and max) and the ratio burn / ours, and writes every
//! figure to a JSON file (default `target/bench-lstm.json`).

use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLossConfig, MseLoss, Reduction};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::{Distribution, Int};
use burn_lstm::backend::BackendChoice;
use burn_lstm::data::keras_sine_windows;
use burn_lstm::models::{LanguageModelConfig, SequenceRegressor, SequenceRegressorConfig};
use burn_lstm::train::{OptimizerConfig, clip_global_norm};
use burn_lstm::{Lstm, LstmConfig, LstmInit};
use serde_json::json;

struct Options {
    quick: bool,
    only: Option<String>,
    backend: BackendChoice,
    out: String,
}

fn options() -> Options {
    let mut options = Options {
        quick: false,
        only: None,
        backend: BackendChoice::Flex,
        out: "target/bench-lstm.json".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--only" => options.only = args.next(),
            "--backend" => {
                options.backend = args
                    .next()
                    .and_then(|b| b.parse().ok())
                    .expect("--backend flex|ndarray|wgpu")
            }
            "--out" => options.out = args.next().expect("--out FILE"),
            "--bench" => {}
            other => panic!("unknown argument {other} (--quick, --only W1..W4, --backend, --out)"),
        }
    }
    options
}

/// Median, min and max of timed runs, in milliseconds, and the peak resident memory.
#[derive(Clone, Copy, Debug)]
struct Stats {
    median: f64,
    min: f64,
    max: f64,
    peak_mib: Option<f64>,
}

/// Resets the kernel's peak-RSS mark (Linux), so each measurement has its own peak.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn measure(device: &Device, warmup: usize, runs: usize, mut run: impl FnMut()) -> Stats {
    for _ in 0..warmup {
        run();
    }
    device.sync().expect("device sync");
    reset_peak_memory();
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            run();
            device.sync().expect("device sync");
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Stats {
        median: times[times.len() / 2],
        min: times[0],
        max: times[times.len() - 1],
        peak_mib: peak_memory_mib(),
    }
}

/// burn's own LSTM stacked into layers (burn's `Lstm`/`BiLstm` have one layer each).
#[derive(Module, Debug)]
struct BurnStack {
    uni: Vec<burn::nn::Lstm>,
    bi: Vec<burn::nn::BiLstm>,
}

impl BurnStack {
    fn new(
        input: usize,
        hidden: usize,
        layers: usize,
        bidirectional: bool,
        device: &Device,
    ) -> Self {
        let mut stack = BurnStack {
            uni: Vec::new(),
            bi: Vec::new(),
        };
        for layer in 0..layers {
            if bidirectional {
                let d_input = if layer == 0 { input } else { 2 * hidden };
                stack
                    .bi
                    .push(burn::nn::BiLstmConfig::new(d_input, hidden, true).init(device));
            } else {
                let d_input = if layer == 0 { input } else { hidden };
                stack
                    .uni
                    .push(burn::nn::LstmConfig::new(d_input, hidden, true).init(device));
            }
        }
        stack
    }

    fn forward(&self, mut x: Tensor<3>) -> Tensor<3> {
        for lstm in &self.uni {
            x = lstm.forward(x, None).0;
        }
        for lstm in &self.bi {
            x = lstm.forward(x, None).0;
        }
        x
    }
}

/// burn's LSTM with a linear read-out of the last step: the baseline of W1 and W2.
#[derive(Module, Debug)]
struct BurnRegressor {
    lstm: burn::nn::Lstm,
    head: Linear,
}

impl BurnRegressor {
    fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let (output, _) = self.lstm.forward(x, None);
        let [batch, seq, hidden] = output.dims();
        self.head
            .forward(output.slice(s![.., seq - 1]).reshape([batch, hidden]))
    }
}

/// The PTB "small" model built from burn's layers: the baseline of W4.
#[derive(Module, Debug)]
struct BurnLanguageModel {
    embedding: Embedding,
    lstm: BurnStack,
    head: Linear,
}

trait Regressor: Module {
    fn predict(&self, x: Tensor<3>) -> Tensor<2>;
}
impl Regressor for SequenceRegressor {
    fn predict(&self, x: Tensor<3>) -> Tensor<2> {
        self.forward(x)
    }
}
impl Regressor for BurnRegressor {
    fn predict(&self, x: Tensor<3>) -> Tensor<2> {
        self.forward(x)
    }
}

fn train_steps<M: Regressor>(
    mut model: M,
    optimizer: &mut ModuleOptimizer,
    lr: f64,
    batches: &[(Tensor<3>, Tensor<2>)],
) -> M {
    for (x, y) in batches {
        let loss = MseLoss::new().forward(model.predict(x.clone()), y.clone(), Reduction::Mean);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(lr, model, grads);
    }
    model
}

struct Row {
    workload: &'static str,
    ours: Stats,
    burn: Option<Stats>,
    note: String,
}

fn w1(device: &Device, runs: usize) -> Row {
    let windows = keras_sine_windows(1000, 0);
    let order: Vec<usize> = (0..1000).collect();
    let batches: Vec<_> = order
        .chunks(32)
        .map(|idx| windows.tensors(idx, device))
        .collect();
    device.seed(0);
    let ours = SequenceRegressorConfig::new(1, 50)
        .with_init(LstmInit::keras())
        .init(device);
    let burn = BurnRegressor {
        lstm: burn::nn::LstmConfig::new(1, 50, true).init(device),
        head: LinearConfig::new(50, 1).init(device),
    };
    let (mut ours, mut burn) = (Some(ours), Some(burn));
    let mut optim_ours = OptimizerConfig::adam().init();
    let mut optim_burn = OptimizerConfig::adam().init();
    let ours_stats = measure(device, 1, runs, || {
        ours = Some(train_steps(
            ours.take().unwrap(),
            &mut optim_ours,
            1e-3,
            &batches,
        ));
    });
    let burn_stats = measure(device, 1, runs, || {
        burn = Some(train_steps(
            burn.take().unwrap(),
            &mut optim_burn,
            1e-3,
            &batches,
        ));
    });
    Row {
        workload: "W1 keras epoch (B32 T49 H50, Adam)",
        ours: ours_stats,
        burn: Some(burn_stats),
        note: String::new(),
    }
}

fn w2(device: &Device, runs: usize, epochs: usize) -> Row {
    let series: Vec<f32> = (0..200)
        .map(|i| (-10.0 + 0.1 * i as f64).sin() as f32)
        .collect();
    let windows = burn_lstm::data::WindowSet::from_series(&series, 5, Some(194)).unwrap();
    let batch = vec![windows.tensors(&(0..155).collect::<Vec<_>>(), device)];
    let ours = SequenceRegressorConfig::new(1, 10).init(device);
    let burn = BurnRegressor {
        lstm: burn::nn::LstmConfig::new(1, 10, true).init(device),
        head: LinearConfig::new(10, 1).init(device),
    };
    let (mut ours, mut burn) = (Some(ours), Some(burn));
    let (mut optim_ours, mut optim_burn) =
        (OptimizerConfig::Sgd.init(), OptimizerConfig::Sgd.init());
    let ours_stats = measure(device, 0, runs, || {
        for _ in 0..epochs {
            ours = Some(train_steps(
                ours.take().unwrap(),
                &mut optim_ours,
                0.01,
                &batch,
            ));
        }
    });
    let burn_stats = measure(device, 0, runs, || {
        for _ in 0..epochs {
            burn = Some(train_steps(
                burn.take().unwrap(),
                &mut optim_burn,
                0.01,
                &batch,
            ));
        }
    });
    Row {
        workload: if epochs == 1000 {
            "W2 1000 torch epochs (B155 T5 H10, SGD)"
        } else {
            "W2 100 torch epochs (B155 T5 H10, SGD)"
        },
        ours: ours_stats,
        burn: Some(burn_stats),
        note: String::new(),
    }
}

fn w3(device: &Device, runs: usize, bidirectional: bool) -> Vec<Row> {
    let (batch, seq, input, hidden) = (64, 100, 128, 256);
    let x = Tensor::<3>::random([batch, seq, input], Distribution::Normal(0.0, 1.0), device);
    let ours: Lstm = LstmConfig::new(input, hidden)
        .with_num_layers(2)
        .with_bidirectional(bidirectional)
        .init(device);
    let burn = BurnStack::new(input, hidden, 2, bidirectional, device);
    let tag = if bidirectional { "bi" } else { "uni" };
    let train = |forward: &dyn Fn(Tensor<3>) -> Tensor<3>| {
        let loss = forward(x.clone()).sum();
        let _grads = loss.backward();
    };
    let ours_train = measure(device, 1, runs, || train(&|x| ours.forward(x, None).0));
    let burn_train = measure(device, 1, runs, || train(&|x| burn.forward(x)));
    let (ours_eval, burn_eval) = (ours.valid(), burn.valid());
    let x_eval = x.clone().without_autodiff();
    let ours_forward = measure(device, 1, runs, || {
        ours_eval.forward(x_eval.clone(), None);
    });
    let burn_forward = measure(device, 1, runs, || {
        burn_eval.forward(x_eval.clone());
    });
    let limit = matmul_limit(device, runs, bidirectional);
    let efficiency = limit.median / ours_train.median;
    vec![
        Row {
            workload: if bidirectional {
                "W3 bi train step (B64 T100 I128 H256 ×2)"
            } else {
                "W3 uni train step (B64 T100 I128 H256 ×2)"
            },
            ours: ours_train,
            burn: Some(burn_train),
            note: format!(
                "matmul-only {:.0} ms → {:.0}% of the {tag} matmul limit",
                limit.median,
                efficiency * 100.0
            ),
        },
        Row {
            workload: if bidirectional {
                "W3 bi forward"
            } else {
                "W3 uni forward"
            },
            ours: ours_forward,
            burn: Some(burn_forward),
            note: String::new(),
        },
    ]
}

/// The time of W3's matrix products alone, on the same backend, each operand made (and
/// transposed where the product needs it) before the clock starts: per layer the input
/// projection of all steps and, per step and direction, the recurrent product; in backward
/// the two products of the projection (input and weight gradients), per step the state
/// gradient, and the recurrent weights' gradient over all steps. No implementation of these
/// products on this backend can take less time than this.
fn matmul_limit(device: &Device, runs: usize, bidirectional: bool) -> Stats {
    let (batch, seq, input, hidden) = (64usize, 100usize, 128usize, 256usize);
    let dirs = if bidirectional { 2 } else { 1 };
    let gates = 4 * hidden;
    let plain = device.clone().without_autodiff();
    let rand =
        |shape: [usize; 2]| Tensor::<2>::random(shape, Distribution::Normal(0.0, 1.0), &plain);
    struct Layer {
        forward: Vec<(Tensor<2>, Tensor<2>)>,
        per_step: Vec<(Tensor<2>, Tensor<2>)>,
    }
    let layers: Vec<Layer> = [input, dirs * hidden]
        .iter()
        .map(|&features| {
            let rows = seq * batch;
            let mut forward = vec![
                (rand([rows, features]), rand([features, dirs * gates])), // x·W_x
                (rand([rows, dirs * gates]), rand([dirs * gates, features])), // dxp·W_xᵀ
                (rand([features, rows]), rand([rows, dirs * gates])),     // xᵀ·dxp
            ];
            for _ in 0..dirs {
                forward.push((rand([hidden, rows]), rand([rows, gates]))); // hᵀ·dz over all steps
            }
            let per_step = (0..dirs)
                .flat_map(|_| {
                    [
                        (rand([batch, hidden]), rand([hidden, gates])), // h·W_h
                        (rand([batch, gates]), rand([gates, hidden])),  // dz·W_hᵀ
                    ]
                })
                .collect();
            Layer { forward, per_step }
        })
        .collect();
    measure(&plain, 1, runs, || {
        for layer in &layers {
            for (a, b) in &layer.forward {
                let _ = a.clone().matmul(b.clone());
            }
            for _ in 0..seq {
                for (a, b) in &layer.per_step {
                    let _ = a.clone().matmul(b.clone());
                }
            }
        }
    })
}

fn w4(device: &Device, runs: usize) -> Row {
    let (batch, seq, vocab, size) = (20, 20, 10_000, 200);
    let tokens = Tensor::<2, Int>::random(
        [batch, seq + 1],
        Distribution::Uniform(0.0, vocab as f64),
        device,
    );
    let inputs = tokens.clone().slice(s![.., 0..seq]);
    let targets = tokens.slice(s![.., 1..seq + 1]).reshape([batch * seq]);
    let target_indices: Vec<usize> = targets
        .clone()
        .into_data()
        .iter::<i64>()
        .map(|t| t as usize)
        .collect();
    let config = LanguageModelConfig::new(vocab, size, size)
        .with_num_layers(2)
        .with_init(LstmInit::uniform(0.1));
    let mut ours = Some(config.init(device));
    let mut burn = Some(BurnLanguageModel {
        embedding: EmbeddingConfig::new(vocab, size).init(device),
        lstm: BurnStack::new(size, size, 2, false, device),
        head: LinearConfig::new(size, vocab).init(device),
    });
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let (mut optim_ours, mut optim_burn) =
        (OptimizerConfig::Sgd.init(), OptimizerConfig::Sgd.init());
    let mut state = None;
    let ours_stats = measure(device, 2, runs, || {
        let model = ours.take().unwrap();
        let (loss, next) = model.next_token_loss(inputs.clone(), &target_indices, state.take());
        state = Some(next.detach());
        let loss = loss.mul_scalar(seq as f64);
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        clip_global_norm(&model, &mut grads, 5.0);
        ours = Some(optim_ours.step(1.0, model, grads));
    });
    let burn_stats = measure(device, 2, runs, || {
        let model = burn.take().unwrap();
        let hidden = model.lstm.forward(model.embedding.forward(inputs.clone()));
        let logits = model.head.forward(hidden);
        let loss = loss_fn
            .forward(logits.reshape([batch * seq, vocab]), targets.clone())
            .mul_scalar(seq as f64);
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        clip_global_norm(&model, &mut grads, 5.0);
        burn = Some(optim_burn.step(1.0, model, grads));
    });
    Row {
        workload: "W4 PTB small train step (B20 T20 V10k 2×200)",
        ours: ours_stats,
        burn: Some(burn_stats),
        note: "burn's side carries no state between steps".into(),
    }
}

/// mimalloc keeps freed memory for reuse; the system allocator returns large blocks to the
/// kernel and pays page faults to get them back, which costs LSTM training up to a third of
/// its time here.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let options = options();
    // SAFETY: set before any backend thread starts; keeps burn's default device on our backend.
    unsafe { std::env::set_var("BURN_DEVICE", options.backend.name()) };
    let device = options.backend.device().expect("backend").autodiff();
    let runs = if options.quick { 3 } else { 10 };
    let wanted = |w: &str| {
        options
            .only
            .as_deref()
            .is_none_or(|only| only.eq_ignore_ascii_case(w))
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "burn-lstm benchmark on {} ({} runs per figure; load average {})",
        options.backend,
        runs,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    let mut rows = Vec::new();
    if wanted("W1") {
        rows.push(w1(&device, if options.quick { 2 } else { 5 }));
    }
    if wanted("W2") {
        rows.push(w2(&device, 3, if options.quick { 100 } else { 1000 }));
    }
    if wanted("W3") {
        rows.extend(w3(&device, if options.quick { 2 } else { 5 }, false));
        rows.extend(w3(&device, if options.quick { 2 } else { 5 }, true));
    }
    if wanted("W4") {
        rows.push(w4(&device, runs));
    }

    println!(
        "\n{:<46} {:>22} {:>22} {:>7}  {:>9} {:>9}",
        "workload", "ours ms (min–max)", "burn ms (min–max)", "burn/us", "MiB ours", "MiB burn"
    );
    let mut json_rows = Vec::new();
    for row in &rows {
        let cell = |s: &Stats| format!("{:.1} ({:.1}–{:.1})", s.median, s.min, s.max);
        let mib = |s: Option<&Stats>| {
            s.and_then(|s| s.peak_mib)
                .map(|m| format!("{m:.0}"))
                .unwrap_or("-".into())
        };
        let ratio = row.burn.map(|b| b.median / row.ours.median);
        println!(
            "{:<46} {:>22} {:>22} {:>7}  {:>9} {:>9}  {}",
            row.workload,
            cell(&row.ours),
            row.burn.as_ref().map(cell).unwrap_or("-".into()),
            ratio.map(|r| format!("{r:.2}×")).unwrap_or("-".into()),
            mib(Some(&row.ours)),
            mib(row.burn.as_ref()),
            row.note
        );
        let stats = |s: &Stats| json!({"median_ms": s.median, "min_ms": s.min, "max_ms": s.max, "peak_rss_mib": s.peak_mib});
        json_rows.push(json!({
            "workload": row.workload, "ours": stats(&row.ours), "burn": row.burn.as_ref().map(stats),
            "burn_over_ours": ratio, "note": row.note,
        }));
    }
    let report = json!({"backend": options.backend.name(), "load_average": load.trim(), "quick": options.quick, "rows": json_rows});
    std::fs::write(&options.out, serde_json::to_string_pretty(&report).unwrap())
        .expect("write the results");
    println!("\nresults written to {}", options.out);
}
