//! A language model's token embedding — the rows of a `[vocab, features]` weight that the
//! tokens name — with a gradient that does not cost a fresh weight-sized buffer every step.
//!
//! The embedding's gradient is as large as its weight (8 MB for ten thousand words of 200
//! features) though only the tokens' rows are non-zero. burn's own backward on the CPU
//! backends allocates it anew every step and copies it once more into aligned storage: 7–8 ms
//! of page faults and copies on one thread, an eighth of a PTB small training step. Here, on
//! the CPU backends under burn's autodiff, the gradient is one of the host pool's kept
//! buffers, cleared and given the tokens' rows in token order (as burn adds them: the same
//! bits); the buffer returns to the pool when burn drops the gradient. Elsewhere — a GPU, or
//! no autodiff — it is burn's `embedding`.
//!
//! ```
//! use burn::prelude::*;
//! use burn_lstm::embedding::embed;
//!
//! let device = Device::flex().autodiff();
//! // A vocabulary of 4 words, 3 features each; 2 rows of 2 tokens.
//! let weight = Tensor::<2>::ones([4, 3], &device).require_grad();
//! let embedded = embed(weight.clone(), &[0, 3, 3, 1], [2, 2]).unwrap();
//! assert_eq!(embedded.dims(), [2, 2, 3]);
//! let gradients = embedded.sum().backward();
//! let grad: Vec<f32> = weight.grad(&gradients).unwrap().into_data().try_to_vec().unwrap();
//! // Word 3 was used twice, word 2 never.
//! assert_eq!(grad, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0]);
//! ```

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::Int;

use crate::error::{LstmError, Result};
use crate::fused;

// The rows and their gradient on the CPU backends, as a burn backend operation.
mod rows;

/// The rows of `weight` named by `tokens`.
///
/// - `weight`: `[vocab, features]`; `tokens`: `batch · seq` word indices, row-major
///   (`tokens[b · seq + s]`); `[batch, seq]`: their shape
///
/// Returns `[batch, seq, features]`, differentiable in `weight`.
///
/// # Errors
/// When `tokens` does not hold `batch · seq` indices or an index is not a word of the
/// vocabulary.
pub fn embed(weight: Tensor<2>, tokens: &[usize], [batch, seq]: [usize; 2]) -> Result<Tensor<3>> {
    let [vocab, features] = weight.dims();
    if tokens.len() != batch * seq {
        return Err(LstmError::shape(
            "tokens",
            format!("batch · seq = {} indices", batch * seq),
            &[tokens.len()],
        ));
    }
    if let Some((position, &token)) = tokens.iter().enumerate().find(|&(_, &t)| t >= vocab) {
        return Err(LstmError::Config(format!(
            "token {token} at position {position} is not a word of the vocabulary of {vocab}"
        )));
    }
    let device = weight.device();
    if fused::on_host(&device, weight.dtype()) {
        let rows = rows::embedding_rows(weight, Arc::new(tokens.to_vec()));
        return Ok(rows.reshape([batch, seq, features]));
    }
    let indices: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    let indices = Tensor::<2, Int>::from_data(TensorData::new(indices, [batch, seq]), &device);
    Ok(burn::tensor::module::embedding(weight, indices))
}
