//! Language models: embedding → LSTM → (dense) → vocabulary.

use burn::module::Param;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig,
};
use burn::prelude::*;
use burn::tensor::Int;
use burn::tensor::activation::relu;

use crate::error::{Error, Result};
use burn_lstm::LstmState;
use burn_lstm::embedding::embed;
use burn_lstm::output::{OutputLayer, WeightLayout};
use burn_lstm::{Lstm, LstmConfig, PreparedLstm, Recurrence};

/// Configuration of a [`LanguageModel`]: the vocabulary, the LSTM's own configuration (its
/// input size is the embedding's; every option of the layer), and the head.
#[derive(Config, Debug)]
pub struct LanguageModelConfig {
    /// Number of tokens in the vocabulary.
    pub vocab_size: usize,
    /// The recurrent part; `lstm.input_size` is the size of each token's embedding. Its
    /// `dropout` acts between its layers (Zaremba et al. use the same rate as below).
    pub lstm: LstmConfig,
    /// Dropout on the embeddings and on the LSTM's output (Zaremba et al.).
    #[config(default = 0.0)]
    pub dropout: f64,
    /// A dense ReLU layer of this size before the output projection (the Keras recipe).
    #[config(default = "None")]
    pub dense_size: Option<usize>,
    /// Dropout after the dense layer.
    #[config(default = 0.5)]
    pub dense_dropout: f64,
    /// Share the embedding matrix with the output projection (Press & Wolf, 2017); needs
    /// the LSTM's (or dense layer's) output size to equal the embedding size.
    #[config(default = false)]
    pub tie_weights: bool,
    /// Draw the embedding and the dense and output layers from `U(-scale, scale)` (Zaremba's
    /// 0.1); `None` keeps burn's defaults (normal embedding, Kaiming-uniform linear layers).
    #[config(default = "None")]
    pub other_init_scale: Option<f64>,
    /// Clip the gradients' global L2 norm to this value when burn-train optimises the model
    /// (feature `learner`; the crate's own `Trainer` takes it from its `TrainingConfig`).
    #[config(default = "None")]
    pub clip_grad_norm: Option<f64>,
}

/// A recurrent language model predicting, at every position, the next token.
#[derive(Module, Debug)]
pub struct LanguageModel {
    /// Token embeddings, `[vocab, embedding]`.
    pub embedding: Embedding,
    /// The recurrent part.
    pub lstm: Lstm,
    /// The optional dense ReLU layer.
    pub dense: Option<Linear>,
    /// Projection to the vocabulary (absent when tied to the embedding).
    pub output: Option<Linear>,
    /// Output bias of a tied projection, `[vocab]`.
    pub tied_bias: Option<Param<Tensor<1>>>,
    /// Dropout on embeddings and LSTM output.
    pub dropout: Dropout,
    /// Dropout after the dense layer.
    pub dense_dropout: Dropout,
    /// The global gradient norm burn-train's steps clip to (see
    /// [`LanguageModelConfig::clip_grad_norm`]).
    pub clip_grad_norm: Option<f64>,
}

impl LanguageModelConfig {
    /// Checks the configuration and builds the model on `device`.
    pub fn try_init(&self, device: &Device) -> Result<LanguageModel> {
        let embedding_size = self.lstm.input_size;
        if self.vocab_size < 2 || embedding_size == 0 {
            return Err(Error::Config(format!(
                "vocab_size ({}) must be at least 2 and the embedding size ({embedding_size}) \
                 at least 1",
                self.vocab_size
            )));
        }
        let lstm = self.lstm.try_init(device)?;
        let uniform = self
            .other_init_scale
            .map(|a| Initializer::Uniform { min: -a, max: a });
        let linear = |d_input, d_output| {
            let config = LinearConfig::new(d_input, d_output);
            match &uniform {
                Some(init) => config.with_initializer(init.clone()).init(device),
                None => config.init(device),
            }
        };
        let dense = self.dense_size.map(|size| linear(lstm.output_size(), size));
        let features = self.dense_size.unwrap_or(lstm.output_size());
        if self.tie_weights && features != embedding_size {
            return Err(Error::Config(format!(
                "tied weights need the output features ({features}) to equal the embedding size ({})",
                embedding_size
            )));
        }
        let mut embedding = EmbeddingConfig::new(self.vocab_size, embedding_size);
        if let Some(init) = &uniform {
            embedding = embedding.with_initializer(init.clone());
        }
        let (output, tied_bias) = match self.tie_weights {
            true => (
                None,
                Some(Param::from_tensor(Tensor::zeros([self.vocab_size], device))),
            ),
            false => (Some(linear(features, self.vocab_size)), None),
        };
        Ok(LanguageModel {
            embedding: embedding.init(device),
            lstm,
            dense,
            output,
            tied_bias,
            dropout: DropoutConfig::new(self.dropout).init(),
            dense_dropout: DropoutConfig::new(self.dense_dropout).init(),
            clip_grad_norm: self.clip_grad_norm,
        })
    }

    /// Builds the model on `device`.
    ///
    /// # Panics
    /// On an invalid configuration; [`LanguageModelConfig::try_init`] returns the error.
    pub fn init(&self, device: &Device) -> LanguageModel {
        self.try_init(device).unwrap_or_else(|err| panic!("{err}"))
    }
}

impl LanguageModel {
    /// Size of the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.embedding.weight.lazy_shape().dims::<2>()[0]
    }

    /// Next-token logits at every position.
    ///
    /// - `tokens`: `[batch, seq]` token indices
    /// - `state`: the state carried from the previous chunk of the same streams (truncated
    ///   backpropagation through time), or `None`
    ///
    /// Returns logits `[batch, seq, vocab]` and the final state.
    pub fn forward(
        &self,
        tokens: Tensor<2, Int>,
        state: Option<LstmState>,
    ) -> (Tensor<3>, LstmState) {
        let embedded = self.dropout.forward(self.embed(tokens));
        let (hidden, state) = self.lstm.forward(embedded, state);
        (self.project(hidden), state)
    }

    /// [`LanguageModel::forward`] with the LSTM's weights prepared once (see
    /// [`Lstm::prepared`]): for many calls with the same weights, such as generation.
    pub fn forward_prepared(
        &self,
        lstm: &PreparedLstm<'_>,
        tokens: Tensor<2, Int>,
        state: Option<LstmState>,
    ) -> (Tensor<3>, LstmState) {
        let embedded = self.dropout.forward(self.embed(tokens));
        let (hidden, state) = lstm.forward(embedded, state);
        (self.project(hidden), state)
    }

    /// Next-token logits after the last real token of each row: the Keras recipe's
    /// "last output only".
    ///
    /// - `tokens`: `[batch, seq]`, each row padded after its end with index 0
    /// - `lengths`: `[batch]` real tokens per row (each in `1..=seq`); padding is masked
    ///
    /// Returns `[batch, vocab]`.
    pub fn forward_last(&self, tokens: Tensor<2, Int>, lengths: &[usize]) -> Result<Tensor<2>> {
        Ok(self.output_projection(self.last_features(tokens, lengths)?))
    }

    /// The tokens' embeddings, `[batch, seq, embedding]`: on the CPU backends
    /// [`burn_lstm::embedding::embed`], whose gradient reuses one buffer (burn's allocates and
    /// copies a vocabulary-sized gradient every step: 7–8 ms of a PTB small step); elsewhere,
    /// or with [`Recurrence::Composed`](burn_lstm::Recurrence), burn's `Embedding` (reading the
    /// tokens back would stall a GPU). The same values either way.
    fn embed(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let composed = self.lstm.recurrence == Recurrence::Composed;
        if composed || !burn_lstm::cpu::is_cpu_device(&tokens.device()) {
            return self.embedding.forward(tokens);
        }
        let shape = tokens.dims();
        let indices: Vec<usize> = tokens
            .into_data()
            .iter::<i64>()
            .map(|token| usize::try_from(token).unwrap_or(usize::MAX))
            .collect();
        embed(self.embedding.weight.val(), &indices, shape)
            .expect("the tokens are words of the model's vocabulary")
    }

    /// The head: dropout, optional dense ReLU layer, projection to the vocabulary.
    fn project(&self, hidden: Tensor<3>) -> Tensor<3> {
        let [batch, seq, _] = hidden.dims();
        let features = self.features(hidden);
        let size = features.dims()[2];
        self.output_projection(features.reshape([batch * seq, size]))
            .reshape([batch, seq, self.vocab_size()])
    }

    /// Dropout and the optional dense ReLU layer: `[batch, seq, features]`.
    fn features(&self, hidden: Tensor<3>) -> Tensor<3> {
        let mut features = self.dropout.forward(hidden);
        if let Some(dense) = &self.dense {
            features = self.dense_dropout.forward(relu(dense.forward(features)));
        }
        features
    }

    /// The output layer: the dense projection's weight `[features, vocab]` and bias, or the
    /// embedding `[vocab, features]` and its own bias when tied; computed the way the LSTM is
    /// (fused on the CPU backends unless [`Recurrence::Composed`](burn_lstm::Recurrence)).
    fn output_layer(&self) -> OutputLayer {
        let layer = match (&self.output, &self.tied_bias) {
            (Some(output), _) => OutputLayer::new(
                output.weight.val(),
                WeightLayout::FeaturesByVocab,
                output.bias.as_ref().map(|bias| bias.val()),
            ),
            (None, Some(bias)) => OutputLayer::new(
                self.embedding.weight.val(),
                WeightLayout::VocabByFeatures,
                Some(bias.val()),
            ),
            (None, None) => unreachable!("a language model has an output projection"),
        };
        layer.with_recurrence(self.lstm.recurrence)
    }

    /// `[rows, features]` → `[rows, vocab]` logits.
    fn output_projection(&self, features: Tensor<2>) -> Tensor<2> {
        self.output_layer()
            .logits(features)
            .expect("the features' width is the model's own")
    }

    /// Mean next-token cross-entropy of `features` `[rows, features]` against `targets` (`rows`
    /// token indices), not counting targets equal to `ignore`: one fused operation on the CPU
    /// backends (see [`OutputLayer::cross_entropy`]).
    fn output_loss(
        &self,
        features: Tensor<2>,
        targets: &[usize],
        ignore: Option<usize>,
    ) -> Result<Tensor<1>> {
        Ok(self
            .output_layer()
            .cross_entropy(features, targets, ignore)?)
    }

    /// Mean cross-entropy of the next-token predictions at every position.
    ///
    /// - `tokens`: `[batch, seq]`; `targets`: the `batch × seq` next tokens, row-major
    /// - `state`: carried from the previous chunk, or `None`
    ///
    /// Returns the loss `[1]` and the final state.
    ///
    /// # Errors
    /// When `targets` is not one per token, or holds an index outside the vocabulary.
    pub fn next_token_loss(
        &self,
        tokens: Tensor<2, Int>,
        targets: &[usize],
        state: Option<LstmState>,
    ) -> Result<(Tensor<1>, LstmState)> {
        let embedded = self.dropout.forward(self.embed(tokens));
        let (hidden, state) = self.lstm.forward(embedded, state);
        let [batch, seq, _] = hidden.dims();
        let features = self.features(hidden);
        let size = features.dims()[2];
        let loss = self.output_loss(features.reshape([batch * seq, size]), targets, None)?;
        Ok((loss, state))
    }

    /// Mean cross-entropy of the prediction after each row's last real token (the Keras
    /// recipe); see [`LanguageModel::forward_last`] for `tokens` and `lengths`.
    pub fn last_token_loss(
        &self,
        tokens: Tensor<2, Int>,
        lengths: &[usize],
        targets: &[usize],
    ) -> Result<Tensor<1>> {
        let features = self.last_features(tokens, lengths)?;
        self.output_loss(features, targets, None)
    }

    fn last_features(&self, tokens: Tensor<2, Int>, lengths: &[usize]) -> Result<Tensor<2>> {
        let embedded = self.dropout.forward(self.embed(tokens));
        let (_, state) = self.lstm.try_forward_padded(embedded, lengths, None)?;
        let [rows, batch, size] = state.hidden.dims();
        let last = state
            .hidden
            .slice(s![rows - 1..rows])
            .reshape([batch, 1, size]);
        let features = self.features(last);
        let width = features.dims()[2];
        Ok(features.reshape([batch, width]))
    }

    /// Mean cross-entropy of `logits` `[rows, vocab]` against `targets` `[rows]`, ignoring targets
    /// equal to `ignore` (the padding index).
    pub fn cross_entropy(
        logits: Tensor<2>,
        targets: Tensor<1, Int>,
        ignore: Option<usize>,
    ) -> Tensor<1> {
        let device = logits.device();
        let mut loss = CrossEntropyLossConfig::new();
        if let Some(pad) = ignore {
            loss = loss.with_pad_tokens(Some(vec![pad]));
        }
        loss.init(&device).forward(logits, targets)
    }
}
