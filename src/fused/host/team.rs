//! The forward pass of inference by a team of threads that own gate columns (see
//! [`super::layer`] for what a layer computes).
//!
//! The row units of [`super::forward`] each read every weight at every step: with the
//! weights larger than a core's L2 cache (W3's second layer packs to 2 MB; L2 holds 0.5 to
//! 2 MB a core on the CPUs this runs on), every step brings them in again from L3. Here the
//! hidden units are cut into chunks ([`Chunks`]) and each of the team's threads owns some of
//! them for the whole sequence: it packs their four gates' columns of `[W_x; W_h]` once (half
//! the weights on two threads, in its own L2), and at every step computes their
//! pre-activations for every batch row, applies the gates to them and writes their hidden
//! state into a buffer all of them read at the next step. One barrier a step hands the hidden
//! state over (two buffers, alternating, so the writes of one step never meet the reads of
//! the one before). A member that has done its own chunks of a step claims what another has
//! not started yet: where one virtual CPU runs slower than the other, the faster no longer
//! waits at the barrier for all of the slower one's share. The two directions of a
//! bidirectional layer run side by side, each by half the team (so a team needs two threads
//! a direction at least).
//!
//! Every pre-activation is the same sum, in the same order, by the same tile kernel as in a
//! row unit, whichever member computes it, and every gate the same pass on the same values:
//! the bits of the row units. The team serves calls without padding, projection or
//! recurrent dropout mask, which inference with whole sequences is.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::gates::{cell_rows, elementwise_kernel};
use super::layer::{LayerInputs, LayerOutputs, LayerWeights};
use crate::cpu::elem::{Elem, RowShared};
use crate::cpu::isa::CpuKernel;
use crate::cpu::packed::{LhsPart, PackedRhs};
use crate::cpu::pool;
use crate::cpu::tile::Accumulation;
use crate::fused::contract::LayerDims;

/// Whether the team can run this call: inference, every row the whole sequence, no
/// projection and no recurrent dropout mask, on a pool of more than one thread; and called
/// from outside the pool. (A call from inside, one of a user's parallel tasks, could hand the
/// team's members to threads that wait in another team's barrier: those calls go by rows,
/// which wait for nothing.) Unless `forced`, every thread must have at least a vector's worth
/// of hidden units.
pub(crate) fn serves<E>(
    dims: &LayerDims,
    inputs: &LayerInputs<E>,
    train: bool,
    forced: bool,
) -> bool {
    let threads = rayon::current_num_threads();
    rayon::current_thread_index().is_none()
        && fits(dims, inputs, train, threads)
        && (forced || dims.hidden >= 16 * (threads / dims.directions))
}

/// [`serves`]' conditions on the call, for a team of `threads`: at least two of them for
/// each direction (with one, a direction's thread is a row unit of every row).
fn fits<E>(dims: &LayerDims, inputs: &LayerInputs<E>, train: bool, threads: usize) -> bool {
    !train
        && threads / dims.directions > 1
        && inputs.lengths.is_none()
        && inputs.recurrent_mask.is_none()
        && dims.hidden_out == dims.hidden
}

/// Columns of the team's step products for this layer, on the pool's threads: a chunk's
/// four gates (see [`Chunks`]), the shape its tile kernel is chosen for.
pub(crate) fn product_columns(dims: &LayerDims) -> usize {
    let group = rayon::current_num_threads() / dims.directions;
    4 * Chunks::new(dims.hidden, group).units
}

static TEAM_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Layer calls the column team has run in this process (for `crate::testing`).
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) fn team_calls() -> usize {
    TEAM_CALLS.load(Ordering::Relaxed)
}

/// The layer's forward pass in inference by a team of the pool's threads, the directions
/// side by side, each by its group (`kernel`: the tiles' kernel, a tile kernel).
pub(crate) fn forward<E: Elem>(
    dims: LayerDims,
    weights: &LayerWeights<E>,
    inputs: &LayerInputs<E>,
    kernel: CpuKernel,
) -> LayerOutputs<E> {
    run(dims, weights, inputs, kernel, None)
}

/// [`forward`], where the member `stalled` (of each direction's group) claims none of the
/// work: the others take over all its chunks (for the tests).
fn run<E: Elem>(
    dims: LayerDims,
    weights: &LayerWeights<E>,
    inputs: &LayerInputs<E>,
    kernel: CpuKernel,
    stalled: Option<usize>,
) -> LayerOutputs<E> {
    TEAM_CALLS.fetch_add(1, Ordering::Relaxed);
    let (batch, hidden) = (dims.batch, dims.hidden);
    let state_len = dims.directions * batch * hidden;
    let mut outputs = LayerOutputs {
        output: pool::reused(dims.steps * batch * dims.directions * hidden),
        hidden: vec![E::zero(); state_len],
        cell: vec![E::zero(); state_len],
    };
    // Per direction, the hidden state of the step before, then of this step: `[D, 2, N, H]`.
    let mut handed = vec![E::zero(); 2 * state_len];
    let mut cell = vec![E::zero(); state_len];
    {
        let shared = TeamBuffers {
            output: RowShared::new(&mut outputs.output),
            final_hidden: RowShared::new(&mut outputs.hidden),
            final_cell: RowShared::new(&mut outputs.cell),
            handed: RowShared::new(&mut handed),
            cell: RowShared::new(&mut cell),
        };
        let chunks = Chunks::new(hidden, rayon::current_num_threads() / dims.directions);
        let team = Team {
            dims,
            weights,
            inputs,
            kernel,
            gate_kernel: elementwise_kernel::<E>(),
            buffers: &shared,
            directions: (0..dims.directions)
                .map(|_| DirectionWork::new(&chunks))
                .collect(),
            chunks,
            stalled,
        };
        rayon::broadcast(|context| team.member(context.index()));
    }
    outputs
}

/// How a direction's hidden units are cut into chunks, the work a member claims at a time:
/// several per member, so that a member whose CPU runs faster (two virtual CPUs of one
/// machine often run at different speeds, and the faster one would wait at every step's
/// barrier) takes over chunks of the slower one's. A chunk has [`CHUNK_UNITS`] units where
/// the hidden size gives each member two chunks at least, fewer (in multiples of 8) where it
/// does not; the last one has what is left.
struct Chunks {
    /// Units a chunk has (the last one, what is left).
    units: usize,
    hidden: usize,
    count: usize,
    /// Members a direction has; member `m` owns chunks `m·count/group..(m+1)·count/group`.
    group: usize,
}

/// Units of a chunk: `4 · 24 = 96` gate columns, whole panels of every tile kernel (48 or 16
/// f32 columns, 24 or 8 f64), so that no tile of the product computes padding.
const CHUNK_UNITS: usize = 24;

impl Chunks {
    fn new(hidden: usize, group: usize) -> Self {
        let units = [CHUNK_UNITS, 16, 8]
            .into_iter()
            .find(|&units| hidden.div_ceil(units) >= 2 * group)
            .unwrap_or(8);
        Self {
            units,
            hidden,
            count: hidden.div_ceil(units),
            group,
        }
    }

    /// The hidden units `first..first + units` of chunk `c`.
    fn units(&self, c: usize) -> (usize, usize) {
        let first = c * self.units;
        (first, self.units.min(self.hidden - first))
    }

    /// The chunks member `m` owns (packs, starts its steps with, writes the final state of).
    fn owned(&self, m: usize) -> std::ops::Range<usize> {
        m * self.count / self.group..(m + 1) * self.count / self.group
    }
}

/// A direction's shared work: its chunks' packed weights and the members' claims.
struct DirectionWork<E> {
    /// Chunk by chunk, packed by its owner before the first step.
    weights: Vec<OnceLock<ChunkWeights<E>>>,
    /// For steps of even and of odd index, the next of each member's chunks to claim (an
    /// index into its owned range; past it, nothing is left).
    next: [Vec<AtomicUsize>; 2],
    barrier: SpinBarrier,
}

impl<E> DirectionWork<E> {
    fn new(chunks: &Chunks) -> Self {
        let group = chunks.group;
        let counters = || (0..group).map(|_| AtomicUsize::new(0)).collect();
        Self {
            weights: (0..chunks.count).map(|_| OnceLock::new()).collect(),
            next: [counters(), counters()],
            barrier: SpinBarrier::new(group),
        }
    }
}

/// A chunk's four gates' columns of `[W_x; W_h]`, packed (`[i | f | o | g]`, `units` wide
/// each), and their biases.
struct ChunkWeights<E> {
    packed: PackedRhs<E>,
    bias: Vec<E>,
}

/// What the members write, each chunk by the member that claimed it (and the handed-over
/// state's, read by all once the barrier has passed).
struct TeamBuffers<'a, E> {
    /// The layer's output, the call's layout.
    output: RowShared<'a, E>,
    /// `[D, N, H]` each.
    final_hidden: RowShared<'a, E>,
    final_cell: RowShared<'a, E>,
    /// `[D, 2, N, H]`
    handed: RowShared<'a, E>,
    /// The cell state, chunk by chunk: direction `d`'s chunk of units `first..first + units`
    /// is `[N, units]` at `(d·H + first)·N`.
    cell: RowShared<'a, E>,
}

struct Team<'a, E> {
    dims: LayerDims,
    weights: &'a LayerWeights<E>,
    inputs: &'a LayerInputs<E>,
    kernel: CpuKernel,
    gate_kernel: CpuKernel,
    buffers: &'a TeamBuffers<'a, E>,
    directions: Vec<DirectionWork<E>>,
    /// The chunks, and the members a direction has.
    chunks: Chunks,
    /// A member of each group that claims no work (see [`run`]).
    stalled: Option<usize>,
}

/// A member's own buffers for the chunk it computes.
struct Scratch<E> {
    gates: Vec<E>,
    activated: Vec<E>,
}

impl<E: Elem> Team<'_, E> {
    /// Member `index`'s share: the directions run side by side, each by a group of members
    /// (threads beyond the groups have nothing to do). A panic stops the member's group at
    /// its next barrier instead of leaving it waiting.
    fn member(&self, index: usize) {
        let group = self.chunks.group;
        let d = index / group;
        let Some(work) = self.directions.get(d) else {
            return;
        };
        let _guard = PanicGuard(&work.barrier);
        let m = index % group;
        for c in self.chunks.owned(m) {
            self.prepare(d, c);
        }
        // Every chunk packed before anyone may claim one.
        work.barrier.wait();
        let largest = self.chunks.units;
        let mut scratch = Scratch {
            gates: vec![E::zero(); self.dims.batch * 4 * largest],
            activated: vec![E::zero(); self.dims.batch * largest],
        };
        for step in 0..self.dims.steps {
            // The claims of the next step start over: the last to use these counters (the
            // step before) ended at the barrier every member has passed, and the next to use
            // them starts after the barrier this member has yet to reach.
            work.next[(step + 1) % 2][m].store(0, Ordering::Relaxed);
            // Its own chunks first, then what the others have left, one after the other.
            let owners = match self.stalled == Some(m) {
                true => 0,
                false => group,
            };
            for owner in (0..owners).map(|o| (m + o) % group) {
                let owned = self.chunks.owned(owner);
                loop {
                    let claimed = work.next[step % 2][owner].fetch_add(1, Ordering::Relaxed);
                    if claimed >= owned.len() {
                        break;
                    }
                    self.chunk_step(d, owned.start + claimed, step, &mut scratch);
                }
            }
            work.barrier.wait();
        }
        self.final_state(d, m);
    }

    /// Packs chunk `c`'s weights and copies its initial cell state into the team's.
    fn prepare(&self, d: usize, c: usize) {
        let dims = &self.dims;
        let (batch, hidden, width) = (dims.batch, dims.hidden, dims.gates());
        let (first, units) = self.chunks.units(c);
        let columns: Vec<usize> = (0..4)
            .flat_map(|gate| (first..first + units).map(move |j| gate * hidden + j))
            .collect();
        let packed = PackedRhs::pack_columns(
            self.kernel,
            vec![
                self.weights.input_matrix(dims, d, false),
                self.weights.recurrent_matrix(dims, d, false),
            ],
            &columns,
        );
        let bias = match &self.weights.bias {
            Some(bias) => columns.iter().map(|&j| bias[d * width + j]).collect(),
            None => Vec::new(),
        };
        let set = self.directions[d].weights[c].set(ChunkWeights { packed, bias });
        assert!(set.is_ok(), "a chunk is packed once");
        // SAFETY: no one claims a chunk before the barrier after this.
        let cell = unsafe {
            self.buffers
                .cell
                .rows((d * hidden + first) * batch, batch * units)
        };
        for (i, row) in cell.chunks_exact_mut(units).enumerate() {
            let start = (d * batch + i) * hidden + first;
            row.copy_from_slice(&self.inputs.cell[start..start + units]);
        }
    }

    /// Chunk `c` of direction `d` at step `step`: its gates' pre-activations
    /// `[x_t | h_{t-1}]·[W_x; W_h]` for every row, then its units' cell and hidden state.
    fn chunk_step(&self, d: usize, c: usize, step: usize, scratch: &mut Scratch<E>) {
        let dims = &self.dims;
        let (batch, hidden, features) = (dims.batch, dims.hidden, dims.features);
        let (first, units) = self.chunks.units(c);
        let time = match d {
            0 => step,
            _ => dims.steps - 1 - step,
        };
        // SAFETY: every member writes this buffer only after the barrier that ends the
        // step before (see `hand_over`), and reads it here, before the next barrier.
        let before: &[E] = match step {
            0 => &self.inputs.hidden[d * batch * hidden..(d + 1) * batch * hidden],
            _ => unsafe {
                let before = (2 * d + step % 2) * batch * hidden;
                self.buffers.handed.read(before, batch * hidden)
            },
        };
        let (start, stride) = match dims.batch_first {
            true => (time * features, dims.steps * features),
            false => (time * batch * features, features),
        };
        let parts = [
            LhsPart {
                values: &self.inputs.input[start..],
                row: stride,
                col: 1,
                k: features,
            },
            LhsPart {
                values: before,
                row: hidden,
                col: 1,
                k: hidden,
            },
        ];
        let weights = self.directions[d].weights[c]
            .get()
            .expect("packed before the first step");
        let gates = &mut scratch.gates[..batch * 4 * units];
        let activated = &mut scratch.activated[..batch * units];
        let n = 4 * units;
        (weights.packed).multiply_parts(gates, n, Accumulation::Replace, &parts, batch);
        // SAFETY: the member that claimed the chunk is the only one to touch its cells in
        // this step; the barrier orders the steps.
        let cell = unsafe {
            self.buffers
                .cell
                .rows((d * hidden + first) * batch, batch * units)
        };
        cell_rows(
            self.gate_kernel,
            gates,
            &weights.bias,
            cell,
            activated,
            (units, false),
        );
        self.hand_over(d, step, time, (first, units), activated);
    }

    /// This chunk's hidden units of step `step` (at `time`) into the buffer the next step
    /// reads and into the output.
    fn hand_over(
        &self,
        d: usize,
        step: usize,
        time: usize,
        (first, units): (usize, usize),
        activated: &[E],
    ) {
        let dims = &self.dims;
        let (batch, hidden) = (dims.batch, dims.hidden);
        let out_width = dims.directions * hidden;
        let next = (2 * d + (step + 1) % 2) * batch * hidden;
        for i in 0..batch {
            let values = &activated[i * units..(i + 1) * units];
            let out = dims.sequence_row(time, i) * out_width + d * hidden + first;
            // SAFETY: this chunk's columns; the handed-over buffer of the next step is read
            // by no one until the barrier after this step.
            unsafe {
                self.buffers.output.rows(out, units).copy_from_slice(values);
                self.buffers
                    .handed
                    .rows(next + i * hidden + first, units)
                    .copy_from_slice(values);
            }
        }
    }

    /// The final hidden and cell state of member `m`'s chunks, after the last step's barrier.
    fn final_state(&self, d: usize, m: usize) {
        let dims = &self.dims;
        let (batch, hidden) = (dims.batch, dims.hidden);
        for c in self.chunks.owned(m) {
            let (first, units) = self.chunks.units(c);
            // SAFETY: after the last barrier no one writes the state; these are the chunk's
            // own columns of the final state.
            unsafe {
                let cell = self
                    .buffers
                    .cell
                    .read((d * hidden + first) * batch, batch * units);
                let last = (2 * d + dims.steps % 2) * batch * hidden;
                for i in 0..batch {
                    let row = (d * batch + i) * hidden + first;
                    let hidden_row = match dims.steps {
                        0 => &self.inputs.hidden[row..row + units],
                        _ => self.buffers.handed.read(last + i * hidden + first, units),
                    };
                    self.buffers
                        .final_hidden
                        .rows(row, units)
                        .copy_from_slice(hidden_row);
                    self.buffers
                        .final_cell
                        .rows(row, units)
                        .copy_from_slice(&cell[i * units..(i + 1) * units]);
                }
            }
        }
    }
}

/// A barrier for a team that spins (a step lasts tens of microseconds; a sleeping thread
/// takes longer to wake), then yields, so a team on a busy machine still moves.
struct SpinBarrier {
    members: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    poisoned: AtomicBool,
}

impl SpinBarrier {
    fn new(members: usize) -> Self {
        Self {
            members,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            poisoned: AtomicBool::new(false),
        }
    }

    /// Waits until every member has arrived; panics when a member panicked. (Not inlined:
    /// a profile then shows the time a team waits.)
    #[inline(never)]
    fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.members {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            assert!(
                !self.poisoned.load(Ordering::Relaxed),
                "a member of the LSTM layer's thread team panicked"
            );
            spins += 1;
            match spins < 1 << 16 {
                true => std::hint::spin_loop(),
                false => std::thread::yield_now(),
            }
        }
    }
}

/// Marks the barrier poisoned when its member unwinds.
struct PanicGuard<'a>(&'a SpinBarrier);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poisoned.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cpu::tensors::HostValues;
    use crate::fused::host::forward::inference_by_rows;

    /// Made-up values in about [-1, 1].
    fn values(len: usize, seed: usize) -> Vec<f32> {
        crate::cpu::made_up_values(len, seed, 1.0)
    }

    fn layer(dims: &LayerDims, bias: bool) -> (LayerWeights<f32>, LayerInputs<f32>) {
        let (d, g, h) = (dims.directions, dims.gates(), dims.hidden);
        let owned = |len: usize, seed: usize| Arc::new(HostValues::Owned(values(len, seed)));
        let weights = LayerWeights {
            input: owned(dims.features * d * g, 1),
            bias: bias.then(|| owned(d * g, 2)),
            recurrent: owned(h * d * g, 3),
            projection: None,
        };
        let inputs = LayerInputs {
            input: HostValues::Owned(values(dims.steps * dims.batch * dims.features, 4)),
            hidden: HostValues::Owned(values(d * dims.batch * h, 5)),
            cell: HostValues::Owned(values(d * dims.batch * h, 6)),
            recurrent_mask: None,
            lengths: None,
        };
        (weights, inputs)
    }

    fn copy(
        weights: &LayerWeights<f32>,
        inputs: &LayerInputs<f32>,
    ) -> (LayerWeights<f32>, LayerInputs<f32>) {
        let owned = |v: &HostValues<f32>| HostValues::Owned(v.to_vec());
        (
            LayerWeights {
                input: Arc::new(owned(&weights.input)),
                bias: weights.bias.as_ref().map(|b| Arc::new(owned(b))),
                recurrent: Arc::new(owned(&weights.recurrent)),
                projection: None,
            },
            LayerInputs {
                input: owned(&inputs.input),
                hidden: owned(&inputs.hidden),
                cell: owned(&inputs.cell),
                recurrent_mask: None,
                lengths: None,
            },
        )
    }

    fn bits(values: &[f32]) -> Vec<u32> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    /// The team's output and final state are the row blocks' bit for bit, with every tile
    /// kernel this CPU runs, on teams of two to four threads (chunks shared out unevenly; two
    /// directions on four), both layouts, with and without biases, and with one member's
    /// chunks all taken over by the others.
    #[test]
    fn the_column_team_gives_the_bits_of_the_row_blocks() {
        let tiles: Vec<CpuKernel> = CpuKernel::available()
            .into_iter()
            .filter(|&kernel| kernel != CpuKernel::Gemm)
            .collect();
        for threads in [2, 3, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for (directions, batch_first, bias) in [
                (1, true, true),
                (2, false, true),
                (1, false, false),
                (2, true, false),
            ] {
                let dims = LayerDims {
                    steps: 9,
                    batch: 13,
                    features: 21,
                    hidden: 80,
                    hidden_out: 80,
                    directions,
                    batch_first,
                };
                let (weights, inputs) = layer(&dims, bias);
                if !fits(&dims, &inputs, false, threads) {
                    assert!(threads < 2 * directions);
                    continue;
                }
                let (w, i) = copy(&weights, &inputs);
                let rows = pool.install(|| inference_by_rows(dims, w, i));
                // Each chunk by the member that owns it or by another (the stalled first
                // member's, always), whichever claims it first.
                for (&kernel, stalled) in tiles.iter().flat_map(|k| [(k, None), (k, Some(0))]) {
                    let team = pool.install(|| run(dims, &weights, &inputs, kernel, stalled));
                    let case =
                        format!("{kernel}, {threads} threads, stalled {stalled:?}, {dims:?}");
                    assert_eq!(bits(&team.output), bits(&rows.output), "output: {case}");
                    assert_eq!(bits(&team.hidden), bits(&rows.hidden), "hidden: {case}");
                    assert_eq!(bits(&team.cell), bits(&rows.cell), "cell: {case}");
                }
            }
        }
    }

    /// Calls the team cannot serve go by rows.
    #[test]
    fn the_team_serves_whole_sequences_in_inference_only() {
        let dims = LayerDims {
            steps: 4,
            batch: 3,
            features: 2,
            hidden: 64,
            hidden_out: 64,
            directions: 1,
            batch_first: true,
        };
        let (weights, inputs) = layer(&dims, true);
        assert!(fits(&dims, &inputs, false, 2));
        assert!(!fits(&dims, &inputs, true, 2), "training");
        assert!(!fits(&dims, &inputs, false, 1), "one thread");
        let both = LayerDims {
            directions: 2,
            ..dims
        };
        assert!(!fits(&both, &inputs, false, 3), "one thread a direction");
        assert!(fits(&both, &inputs, false, 4));
        let padded = LayerInputs {
            lengths: Some(vec![4, 2, 1]),
            ..copy(&weights, &inputs).1
        };
        assert!(!fits(&dims, &padded, false, 2), "padded");
        let projected = LayerDims {
            hidden_out: 32,
            ..dims
        };
        assert!(!fits(&projected, &inputs, false, 2), "projection");
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        assert!(
            !pool.install(|| serves(&dims, &inputs, false, true)),
            "inside the pool"
        );
    }
}
