//! Ready models built on [`Lstm`](crate::Lstm).

mod regressor;

pub use regressor::{RegressionTask, SequenceRegressor, SequenceRegressorConfig};
