//! The language-model programs (`cargo run --release --example language_model`): text,
//! tokenizers and vocabularies, the model, its training tasks (streams with truncated
//! backpropagation through time, fixed token windows) and generation.

mod data;
mod generate;
mod model;
mod training;

pub use data::{
    EOS, PAD, StreamBatches, Tokenizer, UNK, Vocabulary, read_corpus, read_word_vectors,
};
pub use generate::{Sampling, generate};
pub use model::{LanguageModel, LanguageModelConfig};
pub use training::{NextTokenWindows, StreamTask, TextScore, WindowTask, score_stream};
