//! The stacked, sequence-level LSTM ([`Lstm`]), one layer of it ([`LstmLayer`]), its
//! bidirectional form ([`BiLstm`]) and its weights joined once for many calls
//! ([`PreparedLstm`]).

mod bidirectional;
mod layer;
mod prepared;
mod stacked;

pub use bidirectional::{BiLstm, BiLstmConfig};
pub use layer::LstmLayer;
pub use prepared::PreparedLstm;
pub use stacked::{Lstm, LstmConfig, Recurrence};
