//! Text for language models: tokenizers, a vocabulary saved with the model, corpora, and the
//! batching of truncated backpropagation through time.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::{read_text, write_atomic};

/// End of a line (sentence) in word models, as in the Penn Treebank setup.
pub const EOS: &str = "<eos>";
/// A word the vocabulary does not hold.
pub const UNK: &str = "<unk>";
/// Padding, always index 0 in a vocabulary built with padding.
pub const PAD: &str = "<pad>";

/// How text is cut into tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tokenizer {
    /// Whitespace-separated words; every non-empty line ends with `<eos>`.
    Word,
    /// Unicode characters, newlines included.
    Char,
}

impl Tokenizer {
    /// The tokens of `text`.
    pub fn tokenize(self, text: &str) -> Vec<String> {
        match self {
            Tokenizer::Word => text
                .lines()
                .filter(|line| !line.trim().is_empty())
                .flat_map(|line| {
                    line.split_whitespace()
                        .map(str::to_owned)
                        .chain([EOS.to_owned()])
                })
                .collect(),
            Tokenizer::Char => text.chars().map(String::from).collect(),
        }
    }

    /// Joins tokens back into text (`<eos>` becomes a line break in word models).
    pub fn detokenize(self, tokens: &[String]) -> String {
        match self {
            Tokenizer::Char => tokens.concat(),
            Tokenizer::Word => {
                let mut text = String::new();
                for token in tokens {
                    if token == EOS {
                        text.push('\n');
                    } else {
                        if !text.is_empty() && !text.ends_with('\n') {
                            text.push(' ');
                        }
                        text.push_str(token);
                    }
                }
                text
            }
        }
    }
}

/// Token ↔ index, saved beside the model (`vocab.json`) so text means the same thing when the
/// model is loaded again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vocabulary {
    /// How text is tokenized for this vocabulary.
    pub tokenizer: Tokenizer,
    /// The tokens; a token's index is its position.
    pub tokens: Vec<String>,
    /// Whether index 0 is padding (`<pad>`).
    pub padding: bool,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl Vocabulary {
    /// A vocabulary of the tokens of `text`, most frequent first (ties in order of first
    /// appearance), keeping at most `max_size` (then `<unk>` stands for the rest). With
    /// `padding`, index 0 is `<pad>`.
    pub fn build(
        tokenizer: Tokenizer,
        tokens: &[String],
        max_size: Option<usize>,
        padding: bool,
    ) -> Self {
        let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
        for (position, token) in tokens.iter().enumerate() {
            counts.entry(token).or_insert((0, position)).0 += 1;
        }
        let mut ranked: Vec<(&str, (usize, usize))> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.1.1.cmp(&b.1.1)));
        let mut list: Vec<String> = Vec::new();
        if padding {
            list.push(PAD.to_owned());
        }
        let limit = max_size.unwrap_or(usize::MAX);
        let truncated = ranked.len() + list.len() > limit;
        if truncated && !ranked.iter().any(|(t, _)| *t == UNK) {
            list.push(UNK.to_owned());
        }
        // The special tokens already listed, which the text's own must not repeat.
        let listed: std::collections::HashSet<String> = list.iter().cloned().collect();
        for (token, _) in ranked {
            if list.len() >= limit {
                break;
            }
            if !listed.contains(token) {
                list.push(token.to_owned());
            }
        }
        Self::from_tokens(tokenizer, list, padding)
    }

    fn from_tokens(tokenizer: Tokenizer, tokens: Vec<String>, padding: bool) -> Self {
        let index = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i))
            .collect();
        Self {
            tokenizer,
            tokens,
            padding,
            index,
        }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The index of `token`, or of `<unk>` if the vocabulary has it.
    pub fn index(&self, token: &str) -> Option<usize> {
        self.index
            .get(token)
            .or_else(|| self.index.get(UNK))
            .copied()
    }

    /// The indices of `tokens`.
    ///
    /// # Errors
    /// A token the vocabulary does not hold, when it has no `<unk>`.
    pub fn encode(&self, tokens: &[String]) -> Result<Vec<usize>> {
        tokens
            .iter()
            .map(|t| {
                self.index(t).ok_or_else(|| {
                    Error::Config(format!(
                        "the token `{t}` is not in the vocabulary (which has no {UNK})"
                    ))
                })
            })
            .collect()
    }

    /// The tokens of `indices`.
    pub fn decode(&self, indices: &[usize]) -> Vec<String> {
        indices
            .iter()
            .map(|&i| {
                self.tokens
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| UNK.to_owned())
            })
            .collect()
    }

    /// Writes `vocab.json`, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json =
            serde_json::to_string(self).map_err(|err| Error::format(path, err.to_string()))?;
        Ok(write_atomic(path, json.as_bytes())?)
    }

    /// Reads a vocabulary saved by [`Vocabulary::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_text(path)?;
        let saved: Vocabulary = serde_json::from_str(&text)
            .map_err(|err| Error::format(path, format!("not a vocabulary: {err}")))?;
        if saved.tokens.is_empty() {
            return Err(Error::format(path, "the vocabulary is empty"));
        }
        Ok(Self::from_tokens(
            saved.tokenizer,
            saved.tokens,
            saved.padding,
        ))
    }
}

/// Reads a UTF-8 text corpus, refusing a missing, empty or non-UTF-8 file with a sentence.
pub fn read_corpus(path: &Path) -> Result<String> {
    let text = read_text(path)?;
    if text.trim().is_empty() {
        return Err(Error::format(path, "the corpus is empty"));
    }
    Ok(text)
}

/// A token stream cut into `batch` contiguous streams, served in chunks of `unroll` steps so
/// that chunk `k + 1` of a stream continues chunk `k` (the state carries over).
#[derive(Clone, Debug)]
pub struct StreamBatches {
    /// `[batch, length]`, row-major: row `b` is stream `b`.
    streams: Vec<usize>,
    batch: usize,
    length: usize,
    unroll: usize,
}

impl StreamBatches {
    /// Cuts `tokens` into `batch` streams (the tail that does not fill a whole row is dropped).
    ///
    /// # Errors
    /// When the tokens do not make at least one chunk of `unroll` steps (plus the target).
    pub fn new(tokens: &[usize], batch: usize, unroll: usize) -> Result<Self> {
        let length = tokens.len() / batch.max(1);
        if batch == 0 || unroll == 0 || length < unroll + 1 {
            return Err(Error::Config(format!(
                "{} tokens are too few for one batch of {batch} streams × {} steps (need at least {})",
                tokens.len(),
                unroll + 1,
                batch * (unroll + 1)
            )));
        }
        Ok(Self {
            streams: tokens[..batch * length].to_vec(),
            batch,
            length,
            unroll,
        })
    }

    /// Number of chunks (each `[batch, unroll]`, the last possibly shorter).
    pub fn len(&self) -> usize {
        (self.length - 1).div_ceil(self.unroll)
    }

    /// Whether there is no chunk.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Streams per chunk.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Chunk `index`: inputs and next-token targets, each `[batch, steps]` row-major, and
    /// `steps` (the unroll, or what is left at the end).
    pub fn chunk(&self, index: usize) -> (Vec<usize>, Vec<usize>, usize) {
        let start = index * self.unroll;
        let steps = self.unroll.min(self.length - 1 - start);
        let mut inputs = Vec::with_capacity(self.batch * steps);
        let mut targets = Vec::with_capacity(self.batch * steps);
        for row in 0..self.batch {
            let stream = &self.streams[row * self.length..(row + 1) * self.length];
            inputs.extend_from_slice(&stream[start..start + steps]);
            targets.extend_from_slice(&stream[start + 1..start + 1 + steps]);
        }
        (inputs, targets, steps)
    }
}

/// An embedding matrix `[vocab, size]` from pre-trained word vectors in the GloVe / word2vec
/// text format (`word v₁ … v_size` per line; a word2vec `count size` header line is skipped).
/// Words without a vector start from `U(−0.1, 0.1)`; the padding row is zero. Returns the
/// matrix and how many words had a vector.
///
/// # Errors
/// An unreadable file, or a line whose numbers are not `size` finite floats (with its line).
pub fn read_word_vectors(
    path: &Path,
    vocab: &Vocabulary,
    size: usize,
    device: &burn::prelude::Device,
) -> Result<(burn::prelude::Tensor<2>, usize)> {
    use burn::prelude::*;
    use burn::tensor::Distribution;
    let text = read_text(path)?;
    let mut values: Vec<f32> = Tensor::<2>::random(
        [vocab.len(), size],
        Distribution::Uniform(-0.1, 0.1),
        device,
    )
    .into_data()
    .iter::<f32>()
    .collect();
    let mut found = 0;
    for (number, line) in text.lines().enumerate() {
        let mut fields = line.split_whitespace();
        let Some(word) = fields.next() else { continue };
        let numbers: Vec<&str> = fields.collect();
        if number == 0 && numbers.len() == 1 && word.parse::<usize>().is_ok() {
            continue; // word2vec header
        }
        if numbers.len() != size {
            return Err(Error::format(
                path,
                format!(
                    "line {}: expected {size} numbers after `{word}`, found {}",
                    number + 1,
                    numbers.len()
                ),
            ));
        }
        let Some(&index) = vocab.index.get(word) else {
            continue;
        };
        for (k, text) in numbers.iter().enumerate() {
            let value: f32 = text
                .parse()
                .ok()
                .filter(|v: &f32| v.is_finite())
                .ok_or_else(|| {
                    Error::format(
                        path,
                        format!("line {}: `{text}` is not a finite number", number + 1),
                    )
                })?;
            values[index * size + k] = value;
        }
        found += 1;
    }
    if vocab.padding {
        values[..size].iter_mut().for_each(|v| *v = 0.0);
    }
    Ok((
        Tensor::from_data(TensorData::new(values, [vocab.len(), size]), device),
        found,
    ))
}
