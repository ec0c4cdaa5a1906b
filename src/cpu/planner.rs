//! Which CPU kernel serves the host's products and element-wise passes, chosen by measurement.
//!
//! The candidates are the packed tile kernels for AVX-512 and for AVX2 (see
//! [`super::packed`]) and the `gemm` crate; a CPU offers those its instruction sets run (a CPU
//! without AVX2, or not x86-64 at all, offers only `gemm`). Which is fastest is not what the
//! widest vectors promise: AMD's Zen 4 runs 512-bit instructions as two 256-bit halves, Intel's
//! cores lower their clock under 512-bit work, and small products favour a kernel with little
//! set-up. So, as cuDNN's algorithm search or FFTW's planner do, the first product of each
//! shape class times every candidate on that shape, against that product's own right-hand side
//! (the `gemm` crate reads a transposed view at another speed than a row-major one), and the
//! fastest serves that class for the rest of the process ([`Planner`]); the element-wise passes (gate activations, state updates,
//! softmax) are timed once the same way.
//!
//! **The same bits, whatever the timer saw.** The two tile kernels compute every product and
//! pass in the same order of operations, so they give identical results; the `gemm` crate
//! rounds differently. By default (`auto`) the trial chooses only among the tile kernels this
//! CPU runs — two runs of a program with the same seed end with the same weights, however a
//! noisy machine timed them — and the `gemm` crate serves only a CPU without them.
//! `BURN_LSTM_KERNEL=fastest` lets the `gemm` crate compete too (a few per cent on some shapes,
//! at the cost of results that depend on the trial), as cuDNN's `benchmark` mode does.
//!
//! `BURN_LSTM_KERNEL=auto|fastest|avx512|avx2|gemm`: the last three force one kernel for every
//! packed product and element-wise pass (`gemm` then means the portable code of CPUs without a tile kernel: the
//! `gemm` crate's products and plain element-wise loops; products used only once or twice,
//! which packing would not pay for, go to the `gemm` crate whatever the choice);
//! [`kernel_decisions`] says what was chosen and why.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use super::isa::CpuKernel;

/// The environment variable that forces a kernel.
pub const KERNEL_VARIABLE: &str = "BURN_LSTM_KERNEL";

/// How kernels are chosen in this process: by measurement, or forced by [`KERNEL_VARIABLE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelChoice {
    /// Each shape class timed on first use among the kernels of one rounding (the default,
    /// `auto`: [`CpuKernel::same_bits`]).
    Measured,
    /// Each shape class timed on first use among every kernel (`fastest`): results may
    /// depend on what the trial saw.
    Fastest,
    /// One kernel for everything.
    Forced(CpuKernel),
}

/// [`KERNEL_VARIABLE`] read and checked, once per process: an unknown name, or a kernel this
/// CPU does not run, is an error naming the kernels it does.
pub fn kernel_choice() -> Result<KernelChoice, String> {
    static CHOICE: OnceLock<Result<KernelChoice, String>> = OnceLock::new();
    CHOICE
        .get_or_init(|| {
            let value = std::env::var(KERNEL_VARIABLE).unwrap_or_default();
            parse_choice(value.trim()).map_err(|err| format!("{KERNEL_VARIABLE}={value}: {err}"))
        })
        .clone()
}

fn parse_choice(value: &str) -> Result<KernelChoice, String> {
    if value.is_empty() || value == "auto" {
        return Ok(KernelChoice::Measured);
    }
    if value == "fastest" {
        return Ok(KernelChoice::Fastest);
    }
    let kernel: CpuKernel = value.parse()?;
    if !kernel.is_available() {
        let offered: Vec<_> = CpuKernel::available().iter().map(|k| k.name()).collect();
        return Err(format!(
            "this CPU does not run the {kernel} kernel (it offers: auto, fastest, {})",
            offered.join(", ")
        ));
    }
    Ok(KernelChoice::Forced(kernel))
}

/// The kernels a trial chooses among under the process's choice.
fn candidates() -> Vec<CpuKernel> {
    match kernel_choice() {
        Ok(KernelChoice::Forced(kernel)) => vec![kernel],
        Ok(KernelChoice::Fastest) => CpuKernel::available(),
        Ok(KernelChoice::Measured) => CpuKernel::same_bits(),
        Err(message) => panic!("{message}"),
    }
}

/// What a shape class was given, and the timings it was chosen by.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelDecision {
    /// The class: `product F32 m≤32 k≤512 n≤1024`, `product F32 m≤256 k≤1024 n≤256 (rhs
    /// transposed)`, or `element-wise F32 (gates)`.
    pub class: String,
    /// The kernel that serves it.
    pub kernel: CpuKernel,
    /// Each candidate's best time on the class's first shape, in microseconds; empty when the
    /// kernel was forced or was the only candidate.
    pub timings: Vec<(CpuKernel, f64)>,
}

/// Every decision this process has made, in the order of their classes' names.
pub fn kernel_decisions() -> Vec<KernelDecision> {
    planner()
        .decisions
        .lock()
        .expect("kernel decisions")
        .values()
        .cloned()
        .collect()
}

/// The kernel decisions of the process and their cache.
struct Planner {
    decisions: Mutex<BTreeMap<String, KernelDecision>>,
}

fn planner() -> &'static Planner {
    static PLANNER: OnceLock<Planner> = OnceLock::new();
    PLANNER.get_or_init(|| Planner {
        decisions: Mutex::new(BTreeMap::new()),
    })
}

/// The kernel for `class`: decided before, forced, the only candidate, or timed now with
/// `run` (which runs the class's work once with the given kernel). Every class's kernel is
/// recorded, forced ones too, for [`kernel_decisions`].
///
/// The trial interleaves the candidates over a few rounds and keeps each one's best time, so
/// that a moment of noise on the machine does not decide. The lock is held through a trial:
/// a second caller of the same class waits for its decision instead of timing again.
pub(crate) fn plan(class: &str, mut run: impl FnMut(CpuKernel)) -> CpuKernel {
    const ROUNDS: usize = 3;
    // Repetitions of short work, so that a timing is not the clock's resolution.
    const MIN_TRIAL: std::time::Duration = std::time::Duration::from_micros(50);
    let mut decisions = planner().decisions.lock().expect("kernel decisions");
    if let Some(decision) = decisions.get(class) {
        return decision.kernel;
    }
    let candidates = candidates();
    let mut timings: Vec<(CpuKernel, f64)> = Vec::new();
    if candidates.len() > 1 {
        for &kernel in &candidates {
            run(kernel); // warm-up: caches, page faults, the kernel's first packing
        }
        let mut best = vec![f64::INFINITY; candidates.len()];
        for _ in 0..ROUNDS {
            for (best, &kernel) in best.iter_mut().zip(&candidates) {
                let start = Instant::now();
                let mut repetitions = 0u32;
                while repetitions == 0 || start.elapsed() < MIN_TRIAL {
                    run(kernel);
                    repetitions += 1;
                }
                let each = start.elapsed().as_secs_f64() * 1e6 / f64::from(repetitions);
                *best = best.min(each);
            }
        }
        timings = candidates.iter().copied().zip(best).collect();
    }
    let kernel = timings
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(candidates[0], |&(kernel, _)| kernel);
    decisions.insert(
        class.to_string(),
        KernelDecision {
            class: class.to_string(),
            kernel,
            timings,
        },
    );
    kernel
}

/// Ways of doing one piece of work that give the same bits, timed on the work's own calls
/// rather than on a made-up trial: where memory traffic decides (a buffer written long
/// before it is read), only the real call shows it. The first calls of a class run each way
/// in turn — [`CALL_ROUNDS`] times each, and more for short calls, until every way has run
/// for [`CALL_TRIAL_SECONDS`] or [`MAX_CALL_ROUNDS`] times — and the way with the best time
/// serves the rest.
struct CallTrial {
    ways: &'static [&'static str],
    /// What each way's best time is multiplied by before they are compared (1 for all but
    /// a way whose cost falls partly outside its own calls).
    handicaps: &'static [f64],
    /// Each way's best time so far, in seconds; `runs` calls timed.
    best: Vec<f64>,
    /// Each way's timed seconds in all.
    total: Vec<f64>,
    runs: usize,
}

impl CallTrial {
    fn decided(&self) -> bool {
        let rounds = self.runs / self.ways.len();
        let timed_enough = self.total.iter().all(|&total| total >= CALL_TRIAL_SECONDS);
        rounds >= MAX_CALL_ROUNDS || (rounds >= CALL_ROUNDS && timed_enough)
    }

    fn fastest(&self) -> usize {
        let weighed = |way: usize| self.best[way] * self.handicaps.get(way).copied().unwrap_or(1.0);
        (0..self.best.len())
            .min_by(|&a, &b| weighed(a).total_cmp(&weighed(b)))
            .unwrap_or(0)
    }
}

/// Calls of each way before a class is decided (the first may pay for page faults).
const CALL_ROUNDS: usize = 2;
/// Seconds each way runs on trial, where its calls are short (a best time over a fraction
/// of a millisecond is noise), in at most [`MAX_CALL_ROUNDS`] calls.
const CALL_TRIAL_SECONDS: f64 = 0.005;
const MAX_CALL_ROUNDS: usize = 16;

fn call_trials() -> &'static Mutex<BTreeMap<String, CallTrial>> {
    static TRIALS: OnceLock<Mutex<BTreeMap<String, CallTrial>>> = OnceLock::new();
    TRIALS.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// Runs `work` one of `ways` (by index) for `class` and returns what it returned: while the
/// class is undecided, the next way on trial, timed; then the fastest.
pub(crate) fn run_timed_by_calls<R>(
    class: &str,
    ways: &'static [&'static str],
    work: impl FnOnce(usize) -> R,
) -> R {
    run_timed_by_calls_handicapped(class, ways, &[], work)
}

/// [`run_timed_by_calls`] with each way's best time multiplied by its handicap before the
/// comparison: for a way that wakes the thread pool for a short call, whose cost to the work
/// around the call (waking, spinning threads) its own time does not show.
pub(crate) fn run_timed_by_calls_handicapped<R>(
    class: &str,
    ways: &'static [&'static str],
    handicaps: &'static [f64],
    work: impl FnOnce(usize) -> R,
) -> R {
    let (way, on_trial) = {
        let mut trials = call_trials().lock().expect("call trials");
        let trial = trials
            .entry(class.to_string())
            .or_insert_with(|| CallTrial {
                ways,
                handicaps,
                best: vec![f64::INFINITY; ways.len()],
                total: vec![0.0; ways.len()],
                runs: 0,
            });
        match trial.decided() {
            true => (trial.fastest(), false),
            false => (trial.runs % ways.len(), true),
        }
    };
    if !on_trial {
        return work(way);
    }
    let start = Instant::now();
    let result = work(way);
    let seconds = start.elapsed().as_secs_f64();
    let mut trials = call_trials().lock().expect("call trials");
    let trial = trials.get_mut(class).expect("the trial begun above");
    trial.best[way] = trial.best[way].min(seconds);
    trial.total[way] += seconds;
    trial.runs += 1;
    result
}

/// A class decided by timing its own first calls, each way in turn (where a fused layer's
/// input projection runs, per layer shape: `stacked` or `apart`; in inference also
/// `columns`, the column team).
#[derive(Clone, Debug, PartialEq)]
pub struct CallDecision {
    /// The class, e.g. `LSTM layer input projection F32 D1 T128 N64 F128 H256 training` or
    /// `LSTM layer inference F32 D1 T128 N64 F128 H256` (sizes rounded up to powers of two).
    pub class: String,
    /// The way that serves it.
    pub way: &'static str,
    /// Each way's best time over its trial calls, in microseconds.
    pub timings: Vec<(&'static str, f64)>,
}

/// Every class decided by its own calls in this process, in the order of their names.
pub fn call_decisions() -> Vec<CallDecision> {
    let trials = call_trials().lock().expect("call trials");
    trials
        .iter()
        .filter(|(_, trial)| trial.decided())
        .map(|(class, trial)| CallDecision {
            class: class.clone(),
            way: trial.ways[trial.fastest()],
            timings: trial
                .ways
                .iter()
                .zip(&trial.best)
                .map(|(&way, &seconds)| (way, seconds * 1e6))
                .collect(),
        })
        .collect()
}

/// A power of two at least `size`, for naming shape classes: shapes within a factor of two
/// share a decision.
pub(crate) fn size_class(size: usize) -> usize {
    size.max(1).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_names_parse_and_unknown_ones_are_refused() {
        assert_eq!(parse_choice(""), Ok(KernelChoice::Measured));
        assert_eq!(parse_choice("auto"), Ok(KernelChoice::Measured));
        assert_eq!(
            parse_choice("gemm"),
            Ok(KernelChoice::Forced(CpuKernel::Gemm))
        );
        let err = parse_choice("avx1024").unwrap_err();
        assert!(err.contains("unknown kernel `avx1024`"), "{err}");
        assert!(err.contains("auto, fastest, avx512, avx2 or gemm"), "{err}");
        assert_eq!(parse_choice("fastest"), Ok(KernelChoice::Fastest));
        for kernel in [CpuKernel::Avx512, CpuKernel::Avx2] {
            match kernel.is_available() {
                true => assert_eq!(
                    parse_choice(kernel.name()),
                    Ok(KernelChoice::Forced(kernel))
                ),
                false => assert!(
                    parse_choice(kernel.name())
                        .unwrap_err()
                        .contains("this CPU does not run")
                ),
            }
        }
    }

    /// A handicapped way must beat the others by its handicap to be chosen.
    #[test]
    fn a_handicapped_way_wins_only_by_its_margin() {
        const WAYS: &[&str] = &["one thread", "over the cores"];
        let trial = |best: Vec<f64>, handicaps: &'static [f64]| CallTrial {
            ways: WAYS,
            handicaps,
            best,
            total: vec![1.0; 2],
            runs: 32,
        };
        // 30% faster: enough without a handicap, not with 2.
        assert_eq!(trial(vec![1.0, 0.7], &[]).fastest(), 1);
        assert_eq!(trial(vec![1.0, 0.7], &[1.0, 2.0]).fastest(), 0);
        // Three times as fast wins through it.
        assert_eq!(trial(vec![1.0, 0.3], &[1.0, 2.0]).fastest(), 1);
    }

    #[test]
    fn a_class_is_timed_once_and_keeps_its_fastest_kernel() {
        if kernel_choice() != Ok(KernelChoice::Measured) {
            return; // a forced kernel skips the trial this test is about
        }
        let candidates = CpuKernel::same_bits();
        // `auto` never lets the gemm crate's other rounding compete with the tiles.
        if candidates.len() > 1 || candidates[0] != CpuKernel::Gemm {
            assert!(!candidates.contains(&CpuKernel::Gemm));
        }
        // The last candidate is made the slowest by sleeping: the trial must not choose it
        // where another candidate exists.
        let slowest = *candidates.last().expect("a candidate");
        let mut calls = 0;
        let chosen = plan("test class", |kernel| {
            calls += 1;
            if kernel == slowest {
                std::thread::sleep(std::time::Duration::from_micros(300));
            }
        });
        let expected_calls_at_least = candidates.len() * if candidates.len() > 1 { 4 } else { 0 };
        assert!(calls >= expected_calls_at_least, "{calls} trial runs");
        if candidates.len() > 1 {
            assert_ne!(chosen, slowest);
        }
        let again = plan("test class", |_| {
            panic!("a decided class is not timed again")
        });
        assert_eq!(again, chosen);
        let decision = kernel_decisions()
            .into_iter()
            .find(|decision| decision.class == "test class")
            .expect("the decision is recorded");
        assert_eq!(decision.kernel, chosen);
        assert_eq!(
            decision.timings.len(),
            if candidates.len() > 1 {
                candidates.len()
            } else {
                0
            }
        );
    }

    /// The way each of `calls` calls of `class` ran, a call of way `w` taking `pause(w)`
    /// seconds.
    fn ways_run(
        class: &str,
        ways: &'static [&'static str],
        calls: usize,
        pause: impl Fn(usize) -> f64,
    ) -> Vec<usize> {
        (0..calls)
            .map(|_| {
                run_timed_by_calls(class, ways, |way| {
                    std::thread::sleep(std::time::Duration::from_secs_f64(pause(way)));
                    way
                })
            })
            .collect()
    }

    #[test]
    fn a_class_timed_by_its_calls_runs_each_way_then_keeps_the_fastest() {
        const WAYS: &[&str] = &["slow", "fast"];
        let calls = WAYS.len() * MAX_CALL_ROUNDS + 3;
        let order = ways_run("test calls", WAYS, calls, |way| match way {
            0 => 0.002,
            _ => 0.0,
        });
        // On trial: each way in turn; the fast way's calls are too short to be timed for
        // long, so the most rounds; then the faster only.
        let trial: Vec<usize> = (0..WAYS.len() * MAX_CALL_ROUNDS).map(|i| i % 2).collect();
        assert_eq!(order[..trial.len()], trial[..]);
        assert!(
            order[trial.len()..].iter().all(|&way| way == 1),
            "{order:?}"
        );
        let decision = call_decisions()
            .into_iter()
            .find(|decision| decision.class == "test calls")
            .expect("the decision is recorded");
        assert_eq!(decision.way, "fast");
        assert!(decision.timings[0].1 >= 2000.0, "{:?}", decision.timings);
    }

    #[test]
    fn long_calls_are_decided_after_the_fewest_rounds() {
        const WAYS: &[&str] = &["slower", "faster"];
        let calls = WAYS.len() * CALL_ROUNDS + 2;
        let order = ways_run("test long calls", WAYS, calls, |way| {
            let trials = if way == 0 { 5.0 } else { 2.6 };
            trials * CALL_TRIAL_SECONDS / 2.0
        });
        assert_eq!(order, [0, 1, 0, 1, 1, 1]);
    }
}
