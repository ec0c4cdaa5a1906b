//! Text generation from a trained [`LanguageModel`]: a prompt, then tokens sampled one at a
//! time with temperature and top-k, reproducible for a seed.

use burn::prelude::*;
use burn::tensor::Int;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::data::{PAD, Tokenizer, Vocabulary};
use super::model::LanguageModel;
use crate::error::{Error, Result};

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
        return Err(Error::Config("the prompt is empty".into()));
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
    let mut last = logits.slice(s![.., steps - 1]).reshape([vocab_size]);
    let mut generated = Vec::with_capacity(sampling.length);
    for _ in 0..sampling.length {
        let token = draw(last, sampling, vocab, &mut rng);
        generated.push(token);
        let (logits, next) = model.forward_prepared(&lstm, as_tensor(&[token]), Some(state));
        state = next;
        last = logits.reshape([vocab_size]);
    }
    Ok(vocab.decode(&generated))
}

/// One draw from a step's `logits` (`[vocab]`; never the padding token).
///
/// The weights are the softmax of `logits / temperature`, computed by the backend (vectorised:
/// a libm `exp` per word in f64 cost as much as the rest of a token); the candidates are the
/// `top_k` most likely tokens (found in linear time, then ordered by weight, ties by index),
/// or every token in index order: either order is fixed, so a seed always draws the same
/// token from the same logits.
fn draw(logits: Tensor<1>, sampling: &Sampling, vocab: &Vocabulary, rng: &mut StdRng) -> usize {
    let weights = match sampling.temperature <= 0.0 {
        // The most likely token: the logits' order is the weights' order.
        true => logits,
        false => burn::tensor::activation::softmax(logits.div_scalar(sampling.temperature), 0),
    };
    let weights: Vec<f64> = weights.into_data().iter::<f64>().collect();
    pick(&weights, sampling, vocab, rng)
}

/// One draw among `weights` (the softmax, or the logits at temperature 0).
fn pick(weights: &[f64], sampling: &Sampling, vocab: &Vocabulary, rng: &mut StdRng) -> usize {
    let mut candidates: Vec<(usize, f64)> = weights
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
    let total: f64 = candidates.iter().map(|c| c.1).sum();
    let mut left = rng.random::<f64>() * total;
    for &(token, weight) in &candidates {
        if left < weight {
            return token;
        }
        left -= weight;
    }
    candidates[candidates.len() - 1].0
}
