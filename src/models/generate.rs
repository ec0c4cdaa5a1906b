//! Text generation from a trained [`LanguageModel`]: a prompt, then tokens sampled one at a
//! time with temperature and top-k, reproducible for a seed.

use burn::prelude::*;
use burn::tensor::Int;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::data::{PAD, Tokenizer, Vocabulary};
use crate::error::{LstmError, Result};
use crate::models::LanguageModel;

/// How tokens are drawn.
#[derive(Config, Debug, PartialEq)]
pub struct Sampling {
    /// Tokens to generate after the prompt.
    pub length: usize,
    /// Divides the logits: below 1 sharper, above 1 flatter; 0 always takes the most likely
    /// token.
    #[config(default = 1.0)]
    pub temperature: f64,
    /// Draw only among the `k` most likely tokens (`None`: all).
    #[config(default = "None")]
    pub top_k: Option<usize>,
    /// Seed of the draws: the same seed, prompt and model give the same text.
    #[config(default = 0)]
    pub seed: u64,
}

/// The prompt's tokens as a generation prompt: words without the line-end marker.
fn prompt_tokens(tokenizer: Tokenizer, prompt: &str) -> Vec<String> {
    match tokenizer {
        Tokenizer::Word => prompt.split_whitespace().map(str::to_owned).collect(),
        Tokenizer::Char => prompt.chars().map(String::from).collect(),
    }
}

/// Continues `prompt` with `sampling.length` tokens. Returns the generated tokens (without
/// the prompt).
///
/// # Errors
/// An empty prompt, or a prompt token the vocabulary cannot represent.
pub fn generate(
    model: &LanguageModel,
    vocab: &Vocabulary,
    prompt: &str,
    sampling: &Sampling,
    device: &Device,
) -> Result<Vec<String>> {
    let model = model.valid();
    let device = device.clone().without_autodiff();
    let prompt = vocab.encode(&prompt_tokens(vocab.tokenizer, prompt))?;
    if prompt.is_empty() {
        return Err(LstmError::Config("the prompt is empty".into()));
    }
    let mut rng = StdRng::seed_from_u64(sampling.seed);
    let as_tensor = |tokens: &[usize]| -> Tensor<2, Int> {
        let values: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
        Tensor::from_data(TensorData::new(values, [1, tokens.len()]), &device)
    };
    // The weights stay as they are: join them once, not for every token.
    let lstm = model
        .lstm
        .prepared(&device, model.embedding.weight.val().dtype());
    let (logits, mut state) = model.forward_prepared(&lstm, as_tensor(&prompt), None);
    let [_, steps, vocab_size] = logits.dims();
    let mut last: Vec<f64> = logits
        .slice(s![.., steps - 1])
        .into_data()
        .iter::<f64>()
        .collect();
    let mut generated = Vec::with_capacity(sampling.length);
    for _ in 0..sampling.length {
        let token = draw(&last, sampling, vocab, &mut rng);
        generated.push(token);
        let (logits, next) = model.forward_prepared(&lstm, as_tensor(&[token]), Some(state));
        state = next;
        last = logits
            .reshape([vocab_size])
            .into_data()
            .iter::<f64>()
            .collect();
    }
    Ok(vocab.decode(&generated))
}

/// One draw from `logits` (never the padding token).
///
/// The candidates are the `top_k` most likely tokens (found in linear time, then ordered by
/// logit, ties by index), or every token in index order: either order is fixed, so a seed
/// always draws the same token from the same logits.
fn draw(logits: &[f64], sampling: &Sampling, vocab: &Vocabulary, rng: &mut StdRng) -> usize {
    let mut candidates: Vec<(usize, f64)> = logits
        .iter()
        .copied()
        .enumerate()
        .filter(|&(i, _)| !(vocab.padding && vocab.tokens[i] == PAD))
        .collect();
    let more_likely = |a: &(usize, f64), b: &(usize, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if sampling.temperature <= 0.0 {
        return candidates
            .iter()
            .min_by(|a, b| more_likely(a, b))
            .expect("a vocabulary has tokens")
            .0;
    }
    if let Some(k) = sampling.top_k {
        let k = k.clamp(1, candidates.len());
        candidates.select_nth_unstable_by(k - 1, more_likely);
        candidates.truncate(k);
        candidates.sort_by(more_likely);
    }
    let top = candidates
        .iter()
        .map(|c| c.1)
        .fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = candidates
        .iter()
        .map(|&(_, l)| ((l - top) / sampling.temperature).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut pick = rng.random::<f64>() * total;
    for (&(token, _), weight) in candidates.iter().zip(&weights) {
        if pick < *weight {
            return token;
        }
        pick -= weight;
    }
    candidates[candidates.len() - 1].0
}
