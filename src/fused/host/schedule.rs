//! How a layer call's batch rows are ordered and cut into the units of its thread team (see
//! [`super::layer`]: padded batches, blocks of rows).

use rayon::prelude::*;

use crate::cpu::elem::Elem;
use crate::cpu::pool::{self, Pooled};
use crate::cpu::tensors::HostValues;
use crate::fused::contract::LayerDims;

/// How the rows of a call are ordered and cut into the units of the thread team.
#[derive(Clone, Debug)]
pub(crate) struct Schedule {
    /// Internal row `i` is batch row `order[i]`; none when the order is the batch's own.
    pub(crate) order: Option<Vec<usize>>,
    /// Steps of each internal row; none when every row has `T`.
    pub(crate) lengths: Option<Vec<usize>>,
    /// `(first row, rows)` of each block, in internal order; every direction uses the same.
    pub(crate) blocks: Vec<(usize, usize)>,
    /// Whether the units run on several threads.
    pub(crate) parallel: bool,
}

/// Rows below which a block is not split further: smaller products lose more than the second
/// thread gains.
const MIN_BLOCK_ROWS: usize = 8;
/// Recurrent multiply-adds below which a call runs on one thread (a team costs a few µs).
const MIN_PARALLEL_WORK: usize = 1 << 20;

impl Schedule {
    pub(crate) fn new(dims: LayerDims, lengths: Option<&[usize]>) -> Self {
        let batch = dims.batch;
        let threads = rayon::current_num_threads().max(1);
        let parallel = threads > 1 && dims.recurrent_work() >= MIN_PARALLEL_WORK;
        let blocks_per_direction = if parallel {
            threads
                .div_ceil(dims.directions)
                .min(batch / MIN_BLOCK_ROWS)
                .max(1)
        } else {
            1
        };
        let lengths = lengths.filter(|lengths| lengths.iter().any(|&len| len < dims.steps));
        let Some(lengths) = lengths else {
            let per_block = batch.div_ceil(blocks_per_direction);
            let blocks = (0..batch)
                .step_by(per_block)
                .map(|first| (first, per_block.min(batch - first)))
                .collect();
            return Self {
                order: None,
                lengths: None,
                blocks,
                parallel,
            };
        };
        // Longest first (stable), dealt round-robin to the blocks.
        let mut sorted: Vec<usize> = (0..batch).collect();
        sorted.sort_by_key(|&row| std::cmp::Reverse(lengths[row]));
        let mut order = Vec::with_capacity(batch);
        let mut blocks = Vec::with_capacity(blocks_per_direction);
        for block in 0..blocks_per_direction {
            let first = order.len();
            order.extend(sorted.iter().skip(block).step_by(blocks_per_direction));
            blocks.push((first, order.len() - first));
        }
        let internal_lengths = order.iter().map(|&row| lengths[row]).collect();
        let identity = order.iter().enumerate().all(|(i, &row)| i == row);
        Self {
            order: (!identity).then_some(order),
            lengths: Some(internal_lengths),
            blocks,
            parallel,
        }
    }

    /// Rows of the largest block: the most rows a step's product has.
    pub(crate) fn largest_block(&self) -> usize {
        self.blocks.iter().map(|&(_, rows)| rows).max().unwrap_or(1)
    }

    /// The batch row of internal row `row`.
    pub(crate) fn original(&self, row: usize) -> usize {
        self.order.as_ref().map_or(row, |order| order[row])
    }

    pub(crate) fn length(&self, row: usize, steps: usize) -> usize {
        self.lengths.as_ref().map_or(steps, |lengths| lengths[row])
    }

    /// The time that `direction` reaches at `step` in internal row `row`.
    pub(crate) fn time(
        &self,
        dims: &LayerDims,
        direction: usize,
        step: usize,
        row: usize,
    ) -> usize {
        match direction {
            0 => step,
            _ => self.length(row, dims.steps) - 1 - step,
        }
    }

    /// How many of the block's rows are still running at `step` (they come first).
    pub(crate) fn active(&self, (first, rows): (usize, usize), step: usize) -> usize {
        match &self.lengths {
            None => rows,
            Some(lengths) => lengths[first..first + rows].partition_point(|&len| len > step),
        }
    }

    /// Where direction `d` of the block `(first, rows)` stands at `step`; `None` when none of
    /// its rows is that long.
    pub(crate) fn at(
        &self,
        d: usize,
        (first, rows): (usize, usize),
        step: usize,
    ) -> Option<StepAt> {
        let active = self.active((first, rows), step);
        (active > 0).then(|| StepAt {
            direction: d,
            first,
            step,
            active,
            aligned: self.aligned(d, first, active),
        })
    }

    /// Whether the first `active` rows of the block are at the same time at every step.
    pub(crate) fn aligned(&self, direction: usize, first: usize, active: usize) -> bool {
        direction == 0
            || self
                .lengths
                .as_ref()
                .is_none_or(|lengths| lengths[first] == lengths[first + active - 1])
    }

    /// `(direction, block)` of every unit of the thread team.
    pub(crate) fn units(&self, directions: usize) -> Vec<(usize, (usize, usize))> {
        (0..directions)
            .flat_map(|d| self.blocks.iter().map(move |&block| (d, block)))
            .collect()
    }

    /// Runs `work` for every unit, on a thread team when the call is big enough.
    pub(crate) fn run<R: Send>(
        &self,
        directions: usize,
        work: impl Fn(usize, (usize, usize)) -> R + Sync + Send,
    ) -> Vec<R> {
        let units = self.units(directions);
        if self.parallel && units.len() > 1 {
            units
                .into_par_iter()
                .map(|(d, block)| work(d, block))
                .collect()
        } else {
            units.into_iter().map(|(d, block)| work(d, block)).collect()
        }
    }

    /// A sequence tensor (`values`, the call's layout, rows of `width`) as `[T, N, width]` with
    /// its rows in internal order; as it is when that is its layout already.
    pub(crate) fn to_internal<E: Elem>(
        &self,
        values: HostValues<E>,
        dims: &LayerDims,
        width: usize,
    ) -> HostValues<E> {
        if self.order.is_none() && !dims.batch_first {
            return values;
        }
        // Borrowed once: a lent tensor's slice is checked on every borrow.
        let values: &[E] = &values;
        // Every row is copied over what the buffer held.
        let mut reordered = pool::reused(values.len());
        for (to, row) in reordered.chunks_exact_mut(width.max(1)).enumerate() {
            let (t, i) = (to / dims.batch, to % dims.batch);
            let start = dims.sequence_row(t, self.original(i)) * width;
            row.copy_from_slice(&values[start..start + width]);
        }
        HostValues::Pooled(reordered)
    }

    /// Zeroes the rows of a `[D, T, N, width]` buffer (internal order) at the steps past each
    /// row's length, in every direction.
    pub(crate) fn zero_padding<E: Elem>(&self, buffer: &mut [E], dims: &LayerDims, width: usize) {
        let Some(lengths) = &self.lengths else {
            return;
        };
        for d in 0..dims.directions {
            for (row, &length) in lengths.iter().enumerate() {
                for time in length..dims.steps {
                    let start = dims.row(d, time, row) * width;
                    buffer[start..start + width].fill(E::zero());
                }
            }
        }
    }

    /// The inverse of [`Schedule::to_internal`].
    pub(crate) fn to_call_layout<E: Elem>(
        &self,
        values: Pooled<E>,
        dims: &LayerDims,
        width: usize,
    ) -> Pooled<E> {
        if self.order.is_none() && !dims.batch_first {
            return values;
        }
        // Every row is copied over what the buffer held.
        let mut reordered = pool::reused(values.len());
        for t in 0..dims.steps {
            for i in 0..dims.batch {
                let from = (t * dims.batch + i) * width;
                let to = dims.sequence_row(t, self.original(i)) * width;
                reordered[to..to + width].copy_from_slice(&values[from..from + width]);
            }
        }
        reordered
    }
}

/// Where a unit is at one step: its direction, its block's first row, the step, how many of
/// its rows are still running, and whether those share a time (then they are contiguous in
/// every buffer).
#[derive(Clone, Copy)]
pub(crate) struct StepAt {
    pub(crate) direction: usize,
    pub(crate) first: usize,
    pub(crate) step: usize,
    pub(crate) active: usize,
    pub(crate) aligned: bool,
}
