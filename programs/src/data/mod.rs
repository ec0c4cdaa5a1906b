//! Data for the training programs: sine windows, a user's CSV series, text corpora.

mod series;
mod sine;
mod text;
mod windows;

pub use series::{Scaler, read_csv_column};
pub use sine::{keras_sine_windows, seed_prediction_window, torch_sine_series};
pub use text::{
    EOS, PAD, StreamBatches, Tokenizer, UNK, Vocabulary, read_corpus, read_word_vectors,
};
pub use windows::WindowSet;
