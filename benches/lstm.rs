//! Speed and peak memory of our LSTM and of burn's own `nn::Lstm` on the workloads W1–W8
//! (BENCHMARKS.md says what each is), each measured in a process of its own so that its peak
//! resident memory is its own.
//!
//! ```text
//! cargo bench --bench lstm                          # flex, every workload
//! cargo bench --bench lstm -- --quick               # fewer runs
//! cargo bench --features ndarray --bench lstm -- --backend ndarray --only W3 --out bench.json
//! cargo bench --bench lstm -- --kernel each --only W3   # ours once per CPU kernel, side by side
//! ```
//!
//! The header names the CPU (model, SIMD features, the fused layer's kernels it offers); each
//! row says which kernel served ours (`--kernel auto`: the one the layer measured fastest per
//! shape class; a kernel name forces it through `BURN_LSTM_KERNEL`).
//!
//! `scripts/bench.sh` runs this and PyTorch's side (`scripts/torch_bench.py`) in one session
//! and prints the table with the ratios. The figures are medians of timed runs after warm-up
//! runs, with their min and max; memory is the process's peak resident set (`VmHWM`), which
//! includes the model, the data and the runtime. Both sides use the system allocator, as a
//! program does unless it chooses another.
//!
//! The built binary runs on its own (`target/release/deps/lstm-* --only W4`), so the table can
//! be made on a machine without a Rust toolchain.

use std::process::Command;
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLossConfig, MseLoss, Reduction};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::{Distribution, Int};
use burn_lstm::cpu::{CpuKernel, KERNEL_VARIABLE, call_decisions, kernel_decisions};
use burn_lstm::{Lstm, LstmConfig, LstmInit};
use burn_lstm_programs::backend::BackendChoice;
use burn_lstm_programs::language::{LanguageModelConfig, Sampling, generate};
use burn_lstm_programs::language::{Tokenizer, Vocabulary};
use burn_lstm_programs::sine::{SequenceRegressor, SequenceRegressorConfig};
use burn_lstm_programs::sine::{WindowSet, keras_sine_windows};
use burn_lstm_programs::train::{OptimizerConfig, global_norm};
use rand::SeedableRng;
use serde_json::{Value, json};

/// The workloads: id (as `scripts/torch_bench.py` names them), what it is, and whether burn's
/// `nn::Lstm` can run it.
const WORKLOADS: &[(&str, &str, bool)] = &[
    (
        "W1-epoch",
        "W1 keras-recipe epoch (B32 T49 H50, Adam)",
        true,
    ),
    (
        "W2-1000-epochs",
        "W2 1000 torch-recipe epochs (B155 T5 H10, SGD)",
        true,
    ),
    (
        "W3-uni-train",
        "W3 train step, 2×LSTM(256), B64 T100 I128",
        true,
    ),
    ("W3-uni-forward", "W3 forward", true),
    ("W3-bi-train", "W3 train step, bidirectional", true),
    ("W3-bi-forward", "W3 forward, bidirectional", true),
    (
        "W4-ptb-small-step",
        "W4 PTB small LM train step (B20 T20 V10k)",
        true,
    ),
    (
        "W5-padded-train",
        "W5 W3 padded, lengths 10..=100 shuffled: train step",
        false,
    ),
    ("W5-padded-forward", "W5 forward", false),
    (
        "W6-proj-train",
        "W6 W3 with proj_size 128: train step",
        false,
    ),
    ("W6-proj-forward", "W6 forward", false),
    (
        "W7-recurrent-dropout-train",
        "W7 W3 with recurrent dropout 0.25: train step",
        false,
    ),
    (
        "W8-generate-token",
        "W8 generation, Zaremba small, per token",
        true,
    ),
    ("S-T50-train", "S W3 train step at T 50, per step", true),
    ("S-T200-train", "S W3 train step at T 200, per step", true),
    ("S-T800-train", "S W3 train step at T 800, per step", true),
    (
        "S-T50-small-train",
        "S small (B8 I16 H32) train step at T 50, per step",
        true,
    ),
    ("S-T200-small-train", "S small at T 200, per step", true),
    ("S-T800-small-train", "S small at T 800, per step", true),
    (
        "C1-cell-step",
        "C1 LstmCell step, B1 I200 H200 (joins gates per call)",
        false,
    ),
    (
        "C1-cell-step-prepared",
        "C1 the same, weights joined once (prepared)",
        false,
    ),
];

struct Options {
    quick: bool,
    only: Option<String>,
    backend: BackendChoice,
    out: String,
    /// Run one measurement in this process: `(workload id, side)`.
    child: Option<(String, String)>,
    /// A Python with PyTorch: each workload's PyTorch figure is taken right after ours and
    /// burn's (`scripts/torch_bench.py`), so that the three meet the machine in the same state.
    torch: Option<String>,
    /// The CPU kernels ours runs with, one figure each: `auto` (measured choice) or a name
    /// forced through `BURN_LSTM_KERNEL`.
    kernels: Vec<String>,
}

fn options() -> Options {
    let mut options = Options {
        quick: false,
        only: None,
        backend: BackendChoice::Flex,
        out: "target/bench-lstm.json".into(),
        child: None,
        torch: None,
        kernels: vec!["auto".into()],
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--only" => options.only = args.next(),
            "--backend" => {
                let name = args.next().unwrap_or_default();
                options.backend = name.parse().unwrap_or_else(|err: String| exit_with(&err));
            }
            "--out" => options.out = args.next().unwrap_or_else(|| exit_with("--out FILE")),
            "--child" => {
                let (id, side) = (args.next(), args.next());
                options.child = id.zip(side);
            }
            "--torch" => options.torch = args.next(),
            "--kernel" => {
                let list = args.next().unwrap_or_default();
                options.kernels = kernel_list(&list).unwrap_or_else(|err| exit_with(&err));
            }
            "--bench" => {}
            other => exit_with(&format!(
                "unknown argument {other} (--quick, --only W1..W8, --backend flex|ndarray|wgpu, \
                 --out FILE, --torch PYTHON, --kernel auto|avx512|avx2|gemm|each[,…])"
            )),
        }
    }
    options
}

/// `--kernel`'s comma-separated list: `auto`, kernel names, or `each` (auto, then every
/// kernel this CPU offers).
fn kernel_list(list: &str) -> Result<Vec<String>, String> {
    let mut kernels = Vec::new();
    for name in list.split(',').map(str::trim) {
        match name {
            "each" => {
                kernels.push("auto".to_string());
                kernels.extend(CpuKernel::available().iter().map(|k| k.name().to_string()));
            }
            "auto" => kernels.push(name.to_string()),
            other => {
                let kernel: CpuKernel = other.parse()?;
                if !kernel.is_available() {
                    return Err(format!("this CPU does not run the {kernel} kernel"));
                }
                kernels.push(kernel.name().to_string());
            }
        }
    }
    kernels.dedup();
    Ok(kernels)
}

/// The CPU, as `lscpu` names it, and its SIMD features that matter here.
fn cpu_description() -> Value {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split(':').nth(1))
            .map(|value| value.trim().to_string())
            .unwrap_or_else(|| "unknown".into())
    };
    let flags = field("flags");
    let simd: Vec<&str> = [
        "avx2",
        "fma",
        "avx512f",
        "avx512dq",
        "avx512bw",
        "avx512vl",
        "avx512_bf16",
        "avx512_fp16",
        "amx_tile",
        "amx_bf16",
    ]
    .into_iter()
    .filter(|feature| flags.split_whitespace().any(|flag| flag == *feature))
    .collect();
    let kernels: Vec<&str> = CpuKernel::available().iter().map(|k| k.name()).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    #[cfg(target_arch = "x86_64")]
    let peak = peak::measure(cores);
    #[cfg(not(target_arch = "x86_64"))]
    let peak = json!({});
    json!({
        "model": field("model name"),
        "cores": cores,
        "simd": simd,
        "kernels": kernels,
        "fma_peak_gflops": peak,
    })
}

/// The CPU's f32 FMA peak, measured: independent multiply-add chains (enough to hide the
/// latency: 12 for AVX2's 16 registers, 24 for AVX-512's 32) on one core and on every core
/// at once, in GFLOP/s (an FMA is two). The ceiling the products are read against.
#[cfg(target_arch = "x86_64")]
mod peak {
    use std::arch::asm;
    use std::time::Instant;

    const ITERATIONS: u64 = 50_000_000;

    /// `ITERATIONS` rounds of 12 independent AVX2 FMAs (written in assembly: the compiler may
    /// not shorten a loop it cannot see into).
    #[target_feature(enable = "avx2,fma")]
    fn chains_avx2() {
        // SAFETY: register arithmetic only, on a CPU with AVX2 and FMA (the caller checked).
        unsafe {
            asm!(
                "vxorps ymm14, ymm14, ymm14",
                "vxorps ymm15, ymm15, ymm15",
                "2:",
            "vfmadd231ps ymm0, ymm14, ymm15",
            "vfmadd231ps ymm1, ymm14, ymm15",
            "vfmadd231ps ymm2, ymm14, ymm15",
            "vfmadd231ps ymm3, ymm14, ymm15",
            "vfmadd231ps ymm4, ymm14, ymm15",
            "vfmadd231ps ymm5, ymm14, ymm15",
            "vfmadd231ps ymm6, ymm14, ymm15",
            "vfmadd231ps ymm7, ymm14, ymm15",
            "vfmadd231ps ymm8, ymm14, ymm15",
            "vfmadd231ps ymm9, ymm14, ymm15",
            "vfmadd231ps ymm10, ymm14, ymm15",
            "vfmadd231ps ymm11, ymm14, ymm15",
                "dec {n}",
                "jnz 2b",
                n = inout(reg) ITERATIONS => _,
                out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _, out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _, out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _, out("ymm14") _, out("ymm15") _,
                options(nomem, nostack),
            );
        }
    }

    /// The same with 24 independent AVX-512 FMAs.
    #[target_feature(enable = "avx512f")]
    fn chains_avx512() {
        // SAFETY: register arithmetic only, on a CPU with AVX-512F (the caller checked).
        unsafe {
            asm!(
                "vxorps zmm30, zmm30, zmm30",
                "vxorps zmm31, zmm31, zmm31",
                "2:",
            "vfmadd231ps zmm0, zmm30, zmm31",
            "vfmadd231ps zmm1, zmm30, zmm31",
            "vfmadd231ps zmm2, zmm30, zmm31",
            "vfmadd231ps zmm3, zmm30, zmm31",
            "vfmadd231ps zmm4, zmm30, zmm31",
            "vfmadd231ps zmm5, zmm30, zmm31",
            "vfmadd231ps zmm6, zmm30, zmm31",
            "vfmadd231ps zmm7, zmm30, zmm31",
            "vfmadd231ps zmm8, zmm30, zmm31",
            "vfmadd231ps zmm9, zmm30, zmm31",
            "vfmadd231ps zmm10, zmm30, zmm31",
            "vfmadd231ps zmm11, zmm30, zmm31",
            "vfmadd231ps zmm12, zmm30, zmm31",
            "vfmadd231ps zmm13, zmm30, zmm31",
            "vfmadd231ps zmm14, zmm30, zmm31",
            "vfmadd231ps zmm15, zmm30, zmm31",
            "vfmadd231ps zmm16, zmm30, zmm31",
            "vfmadd231ps zmm17, zmm30, zmm31",
            "vfmadd231ps zmm18, zmm30, zmm31",
            "vfmadd231ps zmm19, zmm30, zmm31",
            "vfmadd231ps zmm20, zmm30, zmm31",
            "vfmadd231ps zmm21, zmm30, zmm31",
            "vfmadd231ps zmm22, zmm30, zmm31",
            "vfmadd231ps zmm23, zmm30, zmm31",
                "dec {n}",
                "jnz 2b",
                n = inout(reg) ITERATIONS => _,
                out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _, out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _, out("zmm8") _, out("zmm9") _, out("zmm10") _, out("zmm11") _, out("zmm12") _, out("zmm13") _, out("zmm14") _, out("zmm15") _, out("zmm16") _, out("zmm17") _, out("zmm18") _, out("zmm19") _, out("zmm20") _, out("zmm21") _, out("zmm22") _, out("zmm23") _, out("zmm30") _, out("zmm31") _,
                options(nomem, nostack),
            );
        }
    }

    /// GFLOP/s of `run` (which does `flops`) on `threads` threads at once.
    fn rate(threads: usize, flops: f64, run: fn()) -> f64 {
        let start = Instant::now();
        let handles: Vec<_> = (0..threads).map(|_| std::thread::spawn(run)).collect();
        for handle in handles {
            handle.join().expect("a peak thread");
        }
        threads as f64 * flops / start.elapsed().as_secs_f64() / 1e9
    }

    /// `{"avx2": [one core, all cores], "avx512": […]}` for the instruction sets this CPU has.
    pub fn measure(cores: usize) -> serde_json::Value {
        let mut peaks = serde_json::Map::new();
        let flops = |lanes: f64, chains: f64| ITERATIONS as f64 * chains * lanes * 2.0;
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            let run: fn() = || unsafe { chains_avx2() };
            let figures = [
                rate(1, flops(8.0, 12.0), run),
                rate(cores, flops(8.0, 12.0), run),
            ];
            peaks.insert("avx2".into(), serde_json::json!(figures));
        }
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked above).
            let run: fn() = || unsafe { chains_avx512() };
            let figures = [
                rate(1, flops(16.0, 24.0), run),
                rate(cores, flops(16.0, 24.0), run),
            ];
            peaks.insert("avx512".into(), serde_json::json!(figures));
        }
        peaks.into()
    }
}

/// The kernels that served ours in a child, per shape class, and the ways its layers' own
/// calls chose (where the input projection runs, `stacked` or `apart`, or in inference the
/// column team, `columns`).
fn kernels_used() -> Value {
    let kernels = kernel_decisions().into_iter().map(|d| {
        let timings: serde_json::Map<String, Value> = d
            .timings
            .iter()
            .map(|(kernel, us)| (kernel.name().to_string(), json!(us)))
            .collect();
        json!({"class": d.class, "kernel": d.kernel.name(), "timings_us": timings})
    });
    let ways = call_decisions().into_iter().map(|d| {
        let timings: serde_json::Map<String, Value> = d
            .timings
            .iter()
            .map(|&(way, us)| (way.to_string(), json!(us)))
            .collect();
        json!({"class": d.class, "kernel": d.way, "timings_us": timings})
    });
    kernels.chain(ways).collect()
}

/// The distinct kernels of a result's classes, `+`-joined (`avx2`, `avx512+avx2`).
fn kernel_summary(result: Option<&Value>) -> String {
    let mut names: Vec<&str> = result
        .and_then(|r| r["kernels"].as_array())
        .map(|classes| {
            classes
                .iter()
                .filter_map(|c| c["kernel"].as_str())
                .collect()
        })
        .unwrap_or_default();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        "–".into()
    } else {
        names.join("+")
    }
}

fn exit_with(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2)
}

/// Median, min and max of timed runs, in milliseconds.
#[derive(Clone, Copy, Debug)]
struct Stats {
    median: f64,
    min: f64,
    max: f64,
    runs: usize,
    /// GPU kernels launched per timed unit (a run, or a step of the S rows), counted by
    /// CubeCL's launch observer; none on the CPU backends.
    launches: Option<f64>,
}

/// Counting the kernels CubeCL launches (burn's and ours), on the GPU backend.
#[cfg(feature = "wgpu")]
mod launches {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl cubecl::logging::LaunchObserver for Counter {
        fn launched(&self, _kernel: &'static str) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `run`'s result and how many kernels were launched while it ran.
    pub fn counting<R>(run: impl FnOnce() -> R) -> (R, Option<usize>) {
        let counter = Arc::new(Counter::default());
        let observation = cubecl::logging::LaunchObservation::new(counter.clone());
        let result = run();
        drop(observation);
        (result, Some(counter.0.load(Ordering::Relaxed)))
    }
}

#[cfg(not(feature = "wgpu"))]
mod launches {
    pub fn counting<R>(run: impl FnOnce() -> R) -> (R, Option<usize>) {
        (run(), None)
    }
}

fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Times `runs` calls of `run` after `warmup` untimed ones; `per` divides each time (a
/// workload timed in several units, such as tokens).
fn measure(device: &Device, warmup: usize, runs: usize, per: f64, mut run: impl FnMut()) -> Stats {
    // A fused layer's first calls of a shape time its ways (the input projection stacked or
    // apart; in inference the column team too), two calls each: warm-up covers them, so
    // the timed runs are the chosen way's.
    const LAYER_TRIAL_CALLS: usize = 6;
    for _ in 0..warmup.max(LAYER_TRIAL_CALLS) {
        run();
    }
    device.sync().expect("device sync");
    let (mut times, launched) = launches::counting(|| {
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                run();
                device.sync().expect("device sync");
                start.elapsed().as_secs_f64() * 1000.0 / per
            })
            .collect::<Vec<f64>>()
    });
    times.sort_by(f64::total_cmp);
    Stats {
        median: times[times.len() / 2],
        min: times[0],
        max: times[times.len() - 1],
        runs,
        launches: launched.map(|count| count as f64 / (runs as f64 * per)),
    }
}

/// burn's LSTM stacked into layers (burn's `Lstm`/`BiLstm` have one layer each).
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

/// The PTB "small" model built from burn's layers: the baseline of W4 and W8.
#[derive(Module, Debug)]
struct BurnLanguageModel {
    embedding: Embedding,
    lstm: Vec<burn::nn::Lstm>,
    head: Linear,
}

impl BurnLanguageModel {
    fn new(vocab: usize, size: usize, device: &Device) -> Self {
        Self {
            embedding: EmbeddingConfig::new(vocab, size).init(device),
            lstm: (0..2)
                .map(|_| burn::nn::LstmConfig::new(size, size, true).init(device))
                .collect(),
            head: LinearConfig::new(size, vocab).init(device),
        }
    }

    /// Logits `[batch, seq, vocab]` and every layer's final state.
    fn forward(
        &self,
        tokens: Tensor<2, Int>,
        states: Vec<Option<burn::nn::LstmState<2>>>,
    ) -> (Tensor<3>, Vec<Option<burn::nn::LstmState<2>>>) {
        let mut x = self.embedding.forward(tokens);
        let mut next = Vec::new();
        for (lstm, state) in self.lstm.iter().zip(states) {
            let (output, state) = lstm.forward(x, state);
            x = output;
            next.push(Some(state));
        }
        (self.head.forward(x), next)
    }
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

/// A regressor workload (W1, W2) on one side.
fn regression<M: Regressor>(
    device: &Device,
    model: M,
    mut optimizer: ModuleOptimizer,
    lr: f64,
    batches: &[(Tensor<3>, Tensor<2>)],
    (warmup, runs, repeat): (usize, usize, usize),
) -> Stats {
    let mut model = Some(model);
    measure(device, warmup, runs, 1.0, || {
        for _ in 0..repeat {
            model = Some(train_steps(
                model.take().unwrap(),
                &mut optimizer,
                lr,
                batches,
            ));
        }
    })
}

fn w1(device: &Device, side: &str, runs: usize) -> Stats {
    let windows = keras_sine_windows(1000, 0);
    let order: Vec<usize> = (0..1000).collect();
    let batches: Vec<_> = order
        .chunks(32)
        .map(|idx| windows.tensors(idx, device))
        .collect();
    device.seed(0);
    let plan = (1, runs, 1);
    match side {
        "ours" => {
            let lstm = LstmConfig::new(1, 50).with_init(LstmInit::keras());
            let model = SequenceRegressorConfig::new(lstm).init(device);
            regression(
                device,
                model,
                OptimizerConfig::adam().init(),
                1e-3,
                &batches,
                plan,
            )
        }
        _ => {
            let model = BurnRegressor {
                lstm: burn::nn::LstmConfig::new(1, 50, true).init(device),
                head: LinearConfig::new(50, 1).init(device),
            };
            regression(
                device,
                model,
                OptimizerConfig::adam().init(),
                1e-3,
                &batches,
                plan,
            )
        }
    }
}

fn w2(device: &Device, side: &str, runs: usize) -> Stats {
    let series: Vec<f32> = (0..200)
        .map(|i| (-10.0 + 0.1 * i as f64).sin() as f32)
        .collect();
    let windows = WindowSet::from_series(&series, 5, Some(194)).expect("windows");
    let batch = vec![windows.tensors(&(0..155).collect::<Vec<_>>(), device)];
    let plan = (0, runs, 1000);
    match side {
        "ours" => {
            let model = SequenceRegressorConfig::new(LstmConfig::new(1, 10)).init(device);
            regression(
                device,
                model,
                OptimizerConfig::Sgd.init(),
                0.01,
                &batch,
                plan,
            )
        }
        _ => {
            let model = BurnRegressor {
                lstm: burn::nn::LstmConfig::new(1, 10, true).init(device),
                head: LinearConfig::new(10, 1).init(device),
            };
            regression(
                device,
                model,
                OptimizerConfig::Sgd.init(),
                0.01,
                &batch,
                plan,
            )
        }
    }
}

/// W3 and its variants (W5 padded, W6 projection, W7 recurrent dropout, S at other sequence
/// lengths, per step): a train step (forward, `sum` of the outputs, backward) or a forward in
/// evaluation mode.
fn w3(device: &Device, id: &str, side: &str, runs: usize) -> Stats {
    // S-T<seq>-train: W3's other sizes, `seq` steps, the time per step.
    let seq = id
        .strip_prefix("S-T")
        .and_then(|rest| rest.split('-').next())
        .and_then(|steps| steps.parse().ok())
        .unwrap_or(100);
    let per = if id.starts_with("S-") {
        seq as f64
    } else {
        1.0
    };
    // The small S rows: sizes software Vulkan gets through in minutes.
    let (batch, input, hidden) = match id.contains("small") {
        true => (8, 16, 32),
        false => (64, 128, 256),
    };
    let bidirectional = id.starts_with("W3-bi");
    let train = id.ends_with("train");
    let x = Tensor::<3>::random([batch, seq, input], Distribution::Normal(0.0, 1.0), device);
    // W5: lengths spread evenly over 10..=100, in a shuffled order.
    let lengths: Option<Vec<usize>> = id.starts_with("W5").then(|| {
        let mut lengths: Vec<usize> = (0..batch).map(|i| 10 + i * 90 / (batch - 1)).collect();
        for i in 0..batch {
            lengths.swap(i, (i * 37 + 11) % batch);
        }
        lengths
    });
    let run_ours = |lstm: &Lstm, x: Tensor<3>| match &lengths {
        Some(lengths) => lstm.forward_padded(x, lengths, None).0,
        None => lstm.forward(x, None).0,
    };
    let timed = |forward: &dyn Fn(Tensor<3>) -> Tensor<3>| {
        if train {
            measure(device, 1, runs, per, || {
                let _grads = forward(x.clone()).sum().backward();
            })
        } else {
            let x = x.clone().without_autodiff();
            measure(device, 1, runs, per, || {
                forward(x.clone());
            })
        }
    };
    if side == "burn" {
        let burn = BurnStack::new(input, hidden, 2, bidirectional, device);
        let burn = if train { burn } else { burn.valid() };
        return timed(&|x| burn.forward(x));
    }
    let mut config = LstmConfig::new(input, hidden)
        .with_num_layers(2)
        .with_bidirectional(bidirectional);
    if id.starts_with("W6") {
        config = config.with_proj_size(128);
    }
    if id.starts_with("W7") {
        config = config.with_recurrent_dropout(0.25);
    }
    let lstm = config.init(device);
    let lstm = if train { lstm } else { lstm.valid() };
    timed(&|x| run_ours(&lstm, x))
}

fn w4(device: &Device, side: &str, runs: usize) -> Stats {
    let (batch, seq, vocab, size) = (20, 20, 10_000, 200);
    let tokens = Tensor::<2, Int>::random(
        [batch, seq + 1],
        Distribution::Uniform(0.0, vocab as f64),
        device,
    );
    let inputs = tokens.clone().slice(s![.., 0..seq]);
    let targets = tokens.slice(s![.., 1..seq + 1]).reshape([batch * seq]);
    let mut optimizer = OptimizerConfig::Sgd.init();
    if side == "ours" {
        let target_indices: Vec<usize> = targets
            .into_data()
            .iter::<i64>()
            .map(|t| t as usize)
            .collect();
        let lstm = LstmConfig::new(size, size)
            .with_num_layers(2)
            .with_init(LstmInit::uniform(0.1));
        let config = LanguageModelConfig::new(vocab, lstm);
        let mut model = Some(config.init(device));
        let mut state = None;
        return measure(device, 2, runs, 1.0, || {
            let ours = model.take().unwrap();
            let (loss, next) = ours
                .next_token_loss(inputs.clone(), &target_indices, state.take())
                .expect("targets in the vocabulary");
            state = Some(next.detach());
            let loss = loss.mul_scalar(seq as f64);
            let grads = GradientsParams::from_grads(loss.backward(), &ours);
            // Clipped as the programs' trainer clips plain SGD: the rate times the factor.
            let rate = global_norm(&ours, &grads, 5.0).factor;
            model = Some(optimizer.step(rate, ours, grads));
        });
    }
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut model = Some(BurnLanguageModel::new(vocab, size, device));
    let mut states = vec![None, None];
    measure(device, 2, runs, 1.0, || {
        let burn = model.take().unwrap();
        let (logits, next) = burn.forward(inputs.clone(), std::mem::take(&mut states));
        states = next
            .into_iter()
            .map(|state| {
                state.map(|s| burn::nn::LstmState::new(s.cell.detach(), s.hidden.detach()))
            })
            .collect();
        let loss = loss_fn
            .forward(logits.reshape([batch * seq, vocab]), targets.clone())
            .mul_scalar(seq as f64);
        let grads = GradientsParams::from_grads(loss.backward(), &burn);
        let rate = global_norm(&burn, &grads, 5.0).factor;
        model = Some(optimizer.step(rate, burn, grads));
    })
}

/// W8: 200 tokens, one at a time, from the Zaremba small model (random weights: the time
/// does not depend on them), each sampled from the whole softmax; the time per token.
fn w8(device: &Device, side: &str, runs: usize) -> Stats {
    let (vocab, size, length) = (10_000, 200, 200);
    let device = device.clone().without_autodiff();
    if side == "ours" {
        let words: Vec<String> = (0..vocab).map(|i| format!("w{i}")).collect();
        let vocabulary = Vocabulary::build(Tokenizer::Word, &words, None, false);
        let lstm = LstmConfig::new(size, size)
            .with_num_layers(2)
            .with_init(LstmInit::uniform(0.1));
        let model = LanguageModelConfig::new(vocab, lstm).init(&device);
        let sampling = Sampling::new(length).with_seed(1);
        return measure(&device, 1, runs, length as f64, || {
            generate(&model, &vocabulary, "w1", &sampling, &device).expect("generation");
        });
    }
    let model = BurnLanguageModel::new(vocab, size, &device);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    measure(&device, 1, runs, length as f64, || {
        let mut token = 1usize;
        let mut states = vec![None, None];
        for _ in 0..length {
            let input =
                Tensor::<2, Int>::from_data(TensorData::new(vec![token as i64], [1, 1]), &device);
            let (logits, next) = model.forward(input, states);
            states = next;
            let weights: Vec<f64> = burn::tensor::activation::softmax(logits.reshape([vocab]), 0)
                .into_data()
                .iter::<f64>()
                .collect();
            token = sample(&weights, &mut rng);
        }
    })
}

/// C1: one `LstmCell` step at a time (batch 1, 200 inputs, 200 units), as a decoder loop calls
/// it: `forward` joins the four gates' weights on every call; `prepared` joins them once.
fn c1(device: &Device, prepared: bool, runs: usize) -> Stats {
    let device = device.clone().without_autodiff();
    let cell = burn_lstm::LstmCellConfig::new(200, 200).init(&device);
    let input = Tensor::<2>::random([1, 200], Distribution::Normal(0.0, 1.0), &device);
    let steps = 100;
    let ready = cell.prepared();
    measure(&device, 1, runs, steps as f64, || {
        let mut state = None;
        for _ in 0..steps {
            state = Some(match prepared {
                true => ready.forward(input.clone(), state),
                false => cell.forward(input.clone(), state),
            });
        }
        state.expect("stepped").hidden.into_data();
    })
}

/// A draw from unnormalised `weights`.
fn sample(weights: &[f64], rng: &mut impl rand::Rng) -> usize {
    let mut pick = rng.random::<f64>() * weights.iter().sum::<f64>();
    for (index, &weight) in weights.iter().enumerate() {
        if pick < weight {
            return index;
        }
        pick -= weight;
    }
    weights.len() - 1
}

/// PyTorch's figure for workload `id`, measured now by `scripts/torch_bench.py` in a process of
/// its own: on the CPU, or with `gpu` on a CUDA GPU (cuDNN). Without a figure, why not: the
/// workload has no PyTorch equivalent, or the run failed.
fn torch_figure(python: &str, id: &str, quick: bool, gpu: bool) -> Result<Value, String> {
    if id.starts_with("W7") || id.starts_with("C1") {
        return Err("no PyTorch equivalent".into());
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut command = Command::new(python);
    command.args(["scripts/torch_bench.py", "--child", id, "--threads"]);
    command.arg(threads.to_string());
    if quick {
        command.arg("--quick");
    }
    if gpu {
        command.args(["--device", "cuda"]);
    }
    let output = command
        .output()
        .map_err(|err| format!("PyTorch did not start: {err}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        eprintln!("PyTorch's {id} failed: {stderr}");
        let last = stderr.lines().last().unwrap_or("no message");
        return Err(format!("PyTorch failed: {last}"));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .ok_or_else(|| "PyTorch printed no figure".into())
}

/// One measurement (in a process of its own): prints it as one JSON line.
fn child(options: &Options, id: &str, side: &str) {
    // SAFETY: set before any backend thread starts; keeps burn's default device on our backend.
    unsafe { std::env::set_var("BURN_DEVICE", options.backend.name()) };
    let device = options
        .backend
        .device()
        .unwrap_or_else(|err| exit_with(&err.to_string()))
        .autodiff();
    let runs = if options.quick { 3 } else { 10 };
    let stats = match id {
        "W1-epoch" => w1(&device, side, if options.quick { 2 } else { 5 }),
        "W2-1000-epochs" => w2(&device, side, if options.quick { 1 } else { 3 }),
        "W4-ptb-small-step" => w4(&device, side, runs),
        "W8-generate-token" => w8(&device, side, if options.quick { 2 } else { 5 }),
        "C1-cell-step" => c1(&device, false, runs),
        "C1-cell-step-prepared" => c1(&device, true, runs),
        w3_like => w3(&device, w3_like, side, if options.quick { 3 } else { 7 }),
    };
    let row = json!({
        "workload": id, "side": side, "median_ms": stats.median, "min_ms": stats.min,
        "max_ms": stats.max, "runs": stats.runs, "peak_rss_mib": peak_memory_mib(),
        "kernel_launches": stats.launches, "kernels": kernels_used(),
    });
    println!("{row}");
}

/// One figure, measured by this program in a process of its own (`kernel`: `auto` or a kernel
/// forced through `BURN_LSTM_KERNEL`).
fn measurement(options: &Options, id: &str, side: &str, kernel: &str) -> Value {
    let exe = std::env::current_exe().expect("this program's path");
    let mut command = Command::new(exe);
    command.args(["--child", id, side, "--backend", options.backend.name()]);
    command.env(KERNEL_VARIABLE, kernel);
    if options.quick {
        command.arg("--quick");
    }
    let output = command.output().expect("run a measurement");
    let line = String::from_utf8_lossy(&output.stdout);
    line.lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| {
            exit_with(&format!(
                "{id} ({side}, kernel {kernel}) failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ))
        })
}

/// A figure as `median (min–max)` in ms.
fn cell(r: Option<&Value>) -> String {
    r.map(|r| {
        format!(
            "{:.2} ({:.2}–{:.2})",
            r["median_ms"].as_f64().unwrap_or(f64::NAN),
            r["min_ms"].as_f64().unwrap_or(f64::NAN),
            r["max_ms"].as_f64().unwrap_or(f64::NAN)
        )
    })
    .unwrap_or("–".into())
}

fn join(list: &Value) -> String {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// A workload's line of the table: ours, burn's, their ratio and memory, which kernel served
/// ours, and PyTorch's figure or why there is none.
fn print_row(
    title: &str,
    ours: Option<&Value>,
    burn: Option<&Value>,
    torch: &Result<Value, String>,
) {
    let mib = |r: Option<&Value>| {
        r.and_then(|r| r["peak_rss_mib"].as_f64())
            .map(|m| format!("{m:.0}"))
            .unwrap_or("–".into())
    };
    let median = |r: &Value| r["median_ms"].as_f64().unwrap_or(f64::NAN);
    let ratio = burn.zip(ours).map(|(b, o)| median(b) / median(o));
    let versus_torch = match (torch, ours) {
        (Ok(t), Some(o)) => format!(
            "PyTorch {} → ours/PyTorch {:.2}",
            cell(Some(t)),
            median(o) / median(t)
        ),
        (Err(why), _) => format!("PyTorch: {why}"),
        (Ok(_), None) => String::new(),
    };
    let launches = |r: Option<&Value>| {
        r.and_then(|r| r["kernel_launches"].as_f64())
            .map(|count| format!("{count:.1}"))
            .unwrap_or("–".into())
    };
    let launched = ours
        .and_then(|r| r["kernel_launches"].as_f64())
        .map(|_| format!("  launches {} / {}", launches(ours), launches(burn)))
        .unwrap_or_default();
    println!(
        "{:<58} {:>24} {:>24} {:>8} {:>9} {:>9}  kernel {}  {}{}",
        title,
        cell(ours),
        cell(burn),
        ratio.map(|r| format!("{r:.2}×")).unwrap_or("–".into()),
        mib(ours),
        mib(burn),
        kernel_summary(ours),
        versus_torch,
        launched,
    );
}

fn main() {
    let options = options();
    if let Some((id, side)) = &options.child {
        child(&options, id, side);
        return;
    }
    let wanted = |id: &str| {
        options.only.as_deref().is_none_or(|only| {
            id.to_ascii_lowercase()
                .starts_with(&only.to_ascii_lowercase())
        })
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpu = cpu_description();
    println!(
        "burn-lstm benchmark on {} ({}; load average {})",
        options.backend,
        if options.quick { "quick" } else { "full" },
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "CPU: {} ({} cores); SIMD: {}; the fused layer's kernels here: {}; ours runs with: {}",
        cpu["model"].as_str().unwrap_or("unknown"),
        cpu["cores"],
        join(&cpu["simd"]),
        join(&cpu["kernels"]),
        options.kernels.join(", ")
    );
    if let Some(peaks) = cpu["fma_peak_gflops"].as_object() {
        for (isa, figures) in peaks {
            println!(
                "f32 FMA peak, measured, {isa}: {:.0} GFLOP/s on one core, {:.0} on all",
                figures[0].as_f64().unwrap_or(f64::NAN),
                figures[1].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    println!(
        "\n{:<58} {:>24} {:>24} {:>8} {:>9} {:>9}",
        "workload", "ours ms (min–max)", "burn ms (min–max)", "burn/us", "MiB ours", "MiB burn"
    );
    if options.backend == BackendChoice::Wgpu {
        println!("(GPU kernels launched per timed unit, ours / burn, follow each row)");
    }
    let mut rows = Vec::new();
    for &(id, title, burn_can) in WORKLOADS.iter().filter(|(id, _, _)| wanted(id)) {
        // Ours once per kernel asked for (the first is the row's own figure), then burn's.
        let ours_by_kernel: Vec<(String, Value)> = options
            .kernels
            .iter()
            .map(|kernel| (kernel.clone(), measurement(&options, id, "ours", kernel)))
            .collect();
        let burn = burn_can.then(|| measurement(&options, id, "burn", "auto"));
        let ours = ours_by_kernel.first().map(|(_, result)| result);
        let torch = match options.torch.as_deref() {
            Some(python) => {
                let gpu = options.backend == BackendChoice::Wgpu;
                torch_figure(python, id, options.quick, gpu)
            }
            None => Err("not measured (no --torch)".into()),
        };
        print_row(title, ours, burn.as_ref(), &torch);
        for (kernel, result) in ours_by_kernel.iter().skip(1) {
            println!(
                "{:<58} {:>24}   (ours with {KERNEL_VARIABLE}={kernel})",
                "",
                cell(Some(result))
            );
        }
        let by_kernel: serde_json::Map<String, Value> = ours_by_kernel.iter().cloned().collect();
        rows.push(json!({
            "workload": id, "title": title, "ours": ours, "burn": burn,
            "torch": torch.as_ref().ok(), "torch_note": torch.as_ref().err(),
            "ours_by_kernel": by_kernel,
        }));
    }
    let report = json!({
        "backend": options.backend.name(), "load_average": load.trim(),
        "load_average_after": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        "quick": options.quick, "cpu": cpu, "kernels": options.kernels, "rows": rows,
    });
    if let Some(dir) = std::path::Path::new(&options.out).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(
        &options.out,
        serde_json::to_string_pretty(&report).expect("JSON"),
    )
    .unwrap_or_else(|err| exit_with(&format!("{}: {err}", options.out)));
    println!("\nresults written to {}", options.out);
}
