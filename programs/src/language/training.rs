//! Training and evaluating a [`LanguageModel`]: contiguous streams with truncated
//! backpropagation through time (Zaremba et al.), and fixed windows predicting the next word
//! (the Keras recipe).

use burn::prelude::*;
use burn::tensor::Int;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::data::StreamBatches;
use super::model::LanguageModel;
use crate::error::Result;
use crate::train::{BatchLoss, Evaluation, TrainTask};
use burn_lstm::LstmState;

fn int_tensor(values: &[usize], shape: [usize; 2], device: &Device) -> Tensor<2, Int> {
    let values: Vec<i64> = values.iter().map(|&v| v as i64).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Negative log-likelihood and accuracy of a model on held-out tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextScore {
    /// Mean negative log-likelihood per predicted token (nats).
    pub loss: f64,
    /// Share of tokens whose most likely prediction was right.
    pub accuracy: f64,
    /// Tokens predicted.
    pub tokens: usize,
}

impl TextScore {
    /// `exp(loss)`.
    pub fn perplexity(&self) -> f64 {
        self.loss.exp()
    }
}

/// Scores `model` (in evaluation mode) on a token stream, carrying the state through it:
/// every token but the first is predicted once, from everything before it in its stream.
///
/// `batch` streams are read side by side (1 gives the exact score of the whole text; more
/// are faster and drop the last `len % batch` tokens).
pub fn score_stream(
    model: &LanguageModel,
    tokens: &[usize],
    batch: usize,
    unroll: usize,
    device: &Device,
) -> Result<TextScore> {
    let model = model.valid();
    let device = device.clone().without_autodiff();
    let per_stream = tokens.len() / batch.max(1);
    if per_stream < 2 {
        return Err(crate::Error::Config(format!(
            "{} held-out tokens are too few to score in {batch} streams",
            tokens.len()
        )));
    }
    // A short text is read in one chunk.
    let batches = StreamBatches::new(tokens, batch, unroll.min(per_stream - 1))?;
    let (mut nll, mut correct, mut count) = (0.0f64, 0usize, 0usize);
    let mut state: Option<LstmState> = None;
    for index in 0..batches.len() {
        let (inputs, targets, steps) = batches.chunk(index);
        let (logits, next) =
            model.forward(int_tensor(&inputs, [batch, steps], &device), state.take());
        state = Some(next);
        let logits = logits.reshape([batch * steps, model.vocab_size()]);
        let target_tensor: Tensor<1, Int> = Tensor::from_data(
            TensorData::new(
                targets.iter().map(|&t| t as i64).collect::<Vec<_>>(),
                [targets.len()],
            ),
            &device,
        );
        let predicted = logits.clone().argmax(1).reshape([targets.len()]);
        correct += predicted
            .equal(target_tensor.clone())
            .int()
            .sum()
            .into_scalar::<i64>() as usize;
        let mean: f64 = LanguageModel::cross_entropy(logits, target_tensor, None).into_scalar();
        nll += mean * targets.len() as f64;
        count += targets.len();
    }
    Ok(TextScore {
        loss: nll / count as f64,
        accuracy: correct as f64 / count as f64,
        tokens: count,
    })
}

/// Trains on contiguous streams with truncated backpropagation through time: the state at the
/// end of chunk `k` starts chunk `k + 1` of the same streams, cut from the graph (so the graph
/// does not grow with the number of chunks). The state starts from zeros each epoch.
pub struct StreamTask {
    train: StreamBatches,
    valid: Option<Vec<usize>>,
    device: Device,
    state: Option<LstmState>,
    sum_over_steps: bool,
    eval_batch: usize,
    eval_unroll: usize,
}

impl StreamTask {
    /// Training tokens cut into `batch` streams read `unroll` steps at a time, and optional
    /// validation tokens. With `sum_over_steps`, the gradient is that of the per-token loss
    /// summed over the chunk's steps (Zaremba et al.'s objective) rather than averaged.
    pub fn new(
        train: &[usize],
        valid: Option<Vec<usize>>,
        batch: usize,
        unroll: usize,
        sum_over_steps: bool,
        device: &Device,
    ) -> Result<Self> {
        Ok(Self {
            train: StreamBatches::new(train, batch, unroll)?,
            valid,
            device: device.clone(),
            state: None,
            sum_over_steps,
            eval_batch: 10,
            eval_unroll: 50,
        })
    }

    /// How validation is read (see [`score_stream`]).
    pub fn with_evaluation(mut self, batch: usize, unroll: usize) -> Self {
        self.eval_batch = batch;
        self.eval_unroll = unroll;
        self
    }

    /// The state carried into the next chunk (for tests: it must not be tracked).
    pub fn carried_state(&self) -> Option<&LstmState> {
        self.state.as_ref()
    }
}

impl TrainTask for StreamTask {
    type Model = LanguageModel;

    fn start_epoch(&mut self, _epoch: usize, _seed: u64) -> usize {
        self.state = None;
        self.train.len()
    }

    fn batch_loss(&mut self, model: &LanguageModel, batch: usize) -> BatchLoss {
        let (inputs, targets, steps) = self.train.chunk(batch);
        let rows = self.train.batch();
        let tokens = int_tensor(&inputs, [rows, steps], &self.device);
        let (loss, state) = model
            .next_token_loss(tokens, &targets, self.state.take())
            .expect("a stream's tokens are words of the model's vocabulary");
        self.state = Some(state.detach());
        let scale = if self.sum_over_steps {
            steps as f64
        } else {
            1.0
        };
        BatchLoss::new(loss, rows * steps).scaled(scale)
    }

    fn evaluate(&mut self, model: &LanguageModel) -> Result<Evaluation> {
        let Some(valid) = &self.valid else {
            return Ok(Evaluation::default());
        };
        let score = score_stream(
            model,
            valid,
            self.eval_batch,
            self.eval_unroll,
            &self.device,
        )?;
        Ok(Evaluation {
            valid_loss: Some(score.loss),
            extra: vec![
                ("valid_ppl".into(), score.perplexity()),
                ("valid_accuracy".into(), score.accuracy),
            ],
        })
    }

    fn format_loss(loss: f64) -> String {
        format!("{loss:.3} (ppl {:.1})", loss.exp())
    }

    fn item_name() -> &'static str {
        "tokens"
    }
}

/// Trains a [`LanguageModel`] on [`NextTokenWindows`] with shuffled batches.
pub struct WindowTask {
    train: NextTokenWindows,
    valid: Option<NextTokenWindows>,
    batch_size: usize,
    device: Device,
    order: Vec<usize>,
}

impl WindowTask {
    /// Training and optional validation windows, the batch size and the autodiff device.
    pub fn new(
        train: NextTokenWindows,
        valid: Option<NextTokenWindows>,
        batch_size: usize,
        device: &Device,
    ) -> Self {
        Self {
            order: (0..train.len()).collect(),
            train,
            valid,
            batch_size: batch_size.max(1),
            device: device.clone(),
        }
    }
}

impl TrainTask for WindowTask {
    type Model = LanguageModel;

    fn start_epoch(&mut self, _epoch: usize, seed: u64) -> usize {
        // The order of each epoch depends on its seed alone, so a resumed run repeats it.
        self.order = (0..self.train.len()).collect();
        self.order.shuffle(&mut StdRng::seed_from_u64(seed));
        self.train.len().div_ceil(self.batch_size)
    }

    fn batch_loss(&mut self, model: &LanguageModel, batch: usize) -> BatchLoss {
        let start = batch * self.batch_size;
        let indices = &self.order[start..(start + self.batch_size).min(self.order.len())];
        let (tokens, lengths, _) = self.train.batch(indices, &self.device);
        let targets: Vec<usize> = indices.iter().map(|&i| self.train.targets[i]).collect();
        let loss = model
            .last_token_loss(tokens, &lengths, &targets)
            .expect("windows have valid lengths");
        BatchLoss::new(loss, indices.len())
    }

    fn evaluate(&mut self, model: &LanguageModel) -> Result<Evaluation> {
        let Some(valid) = &self.valid else {
            return Ok(Evaluation::default());
        };
        let score = valid.score(model, 256, &self.device)?;
        Ok(Evaluation {
            valid_loss: Some(score.loss),
            extra: vec![
                ("valid_accuracy".into(), score.accuracy),
                ("valid_ppl".into(), score.perplexity()),
            ],
        })
    }

    fn format_loss(loss: f64) -> String {
        format!("{loss:.3} (ppl {:.1})", loss.exp())
    }

    fn item_name() -> &'static str {
        "windows"
    }
}

/// Fixed windows of up to `window` tokens, each followed by the token to predict (the Keras
/// recipe). Windows shorter than `window` (at the start of a line) are padded with index 0
/// after their end, and the padding is masked.
#[derive(Clone, Debug)]
pub struct NextTokenWindows {
    inputs: Vec<Vec<usize>>,
    targets: Vec<usize>,
    window: usize,
}

impl NextTokenWindows {
    /// Every prefix window of every line: for a line `t₁ … tₙ`, inputs `t₁…tₖ` (the last
    /// `window` of them) predict `tₖ₊₁`.
    pub fn from_lines(lines: &[Vec<usize>], window: usize) -> Self {
        let (mut inputs, mut targets) = (Vec::new(), Vec::new());
        for line in lines {
            for end in 1..line.len() {
                inputs.push(line[end.saturating_sub(window)..end].to_vec());
                targets.push(line[end]);
            }
        }
        Self {
            inputs,
            targets,
            window,
        }
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The longest window, to which shorter ones are padded.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Window `index`: its tokens (up to [`NextTokenWindows::window`]) and the next token.
    pub fn get(&self, index: usize) -> Option<(&[usize], usize)> {
        Some((self.inputs.get(index)?, self.targets[index]))
    }

    /// The windows at `indices`: padded tokens `[n, window]`, lengths, targets `[n]`.
    pub fn batch(
        &self,
        indices: &[usize],
        device: &Device,
    ) -> (Tensor<2, Int>, Vec<usize>, Tensor<1, Int>) {
        let mut tokens = vec![0usize; indices.len() * self.window];
        let mut lengths = Vec::with_capacity(indices.len());
        for (row, &i) in indices.iter().enumerate() {
            let input = &self.inputs[i];
            tokens[row * self.window..row * self.window + input.len()].copy_from_slice(input);
            lengths.push(input.len());
        }
        let targets: Vec<i64> = indices.iter().map(|&i| self.targets[i] as i64).collect();
        (
            int_tensor(&tokens, [indices.len(), self.window], device),
            lengths,
            Tensor::from_data(TensorData::new(targets, [indices.len()]), device),
        )
    }

    /// Mean cross-entropy and accuracy of `model` (evaluation mode) on all windows.
    pub fn score(&self, model: &LanguageModel, batch: usize, device: &Device) -> Result<TextScore> {
        let model = model.valid();
        let device = device.clone().without_autodiff();
        let (mut nll, mut correct) = (0.0, 0usize);
        let all: Vec<usize> = (0..self.len()).collect();
        for chunk in all.chunks(batch.max(1)) {
            let (tokens, lengths, targets) = self.batch(chunk, &device);
            let logits = model.forward_last(tokens, &lengths)?;
            correct += logits
                .clone()
                .argmax(1)
                .reshape([chunk.len()])
                .equal(targets.clone())
                .int()
                .sum()
                .into_scalar::<i64>() as usize;
            nll += LanguageModel::cross_entropy(logits, targets, None).into_scalar::<f64>()
                * chunk.len() as f64;
        }
        Ok(TextScore {
            loss: nll / self.len() as f64,
            accuracy: correct as f64 / self.len() as f64,
            tokens: self.len(),
        })
    }
}
