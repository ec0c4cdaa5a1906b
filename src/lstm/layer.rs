//! One layer of an [`Lstm`](super::Lstm): a cell per direction.

use burn::prelude::*;

use crate::cell::LstmCell;
use crate::recurrence::CellParts;

/// One layer of an [`Lstm`](super::Lstm): a cell per direction.
#[derive(Module, Debug)]
pub struct LstmLayer {
    /// The cell reading the sequence from first step to last.
    pub forward_cell: LstmCell,
    /// The cell reading it from last to first, in a bidirectional layer.
    pub reverse_cell: Option<LstmCell>,
}

impl LstmLayer {
    /// The cells of this layer: forward, then reverse if there is one.
    pub fn cells(&self) -> Vec<&LstmCell> {
        std::iter::once(&self.forward_cell)
            .chain(self.reverse_cell.as_ref())
            .collect()
    }

    /// Each direction's parameters, lent for joining.
    pub(super) fn parts(&self) -> Vec<CellParts<'_>> {
        self.cells().into_iter().map(LstmCell::parts).collect()
    }
}
