//! The run's configuration: the presets as named settings, the command line's overrides, and
//! what is saved as `config.json`.

use burn::prelude::*;
use burn_lstm::{LstmConfig, LstmInit};
use burn_lstm_programs::language::LanguageModelConfig;
use burn_lstm_programs::language::Tokenizer;
use burn_lstm_programs::train::{LrSchedule, OptimizerConfig, TrainingConfig};
use burn_lstm_programs::{Error, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::Args;

/// The training recipes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// A 2×128 word model on the first 300 000 training tokens: a few minutes on a CPU.
    Small,
    /// Zaremba et al. (2014) "small": 2×200, unroll 20, batch 20, SGD 1.0 halved after epoch
    /// 4, global clip 5, 13 epochs, no dropout.
    ZarembaSmall,
    /// The seed's Keras recipe: windows of words → next word, Embedding(100), LSTM(64,
    /// dropout 0.1, recurrent dropout 0.1), Dense(64, relu), Dropout(0.5), softmax, Adam.
    Keras,
}

/// Tokens: words or characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenizerChoice {
    Word,
    Char,
}

impl From<TokenizerChoice> for Tokenizer {
    fn from(choice: TokenizerChoice) -> Self {
        match choice {
            TokenizerChoice::Word => Tokenizer::Word,
            TokenizerChoice::Char => Tokenizer::Char,
        }
    }
}

/// Where the text comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A Penn Treebank directory: `train.txt`, `valid.txt`, `test.txt`.
    Ptb,
    /// One UTF-8 text file: 90% training, 5% validation, 5% test.
    Text,
}

/// A preset's settings.
pub struct Recipe {
    pub embedding: usize,
    pub hidden: usize,
    pub layers: usize,
    pub dropout: f64,
    pub recurrent_dropout: f64,
    /// A dense ReLU layer between the LSTM and the output.
    pub dense: Option<usize>,
    pub batch_size: usize,
    /// Steps per chunk (streams), or the window length (the Keras recipe).
    pub unroll: usize,
    pub epochs: usize,
    pub optimizer: OptimizerConfig,
    pub learning_rate: f64,
    /// Halve the learning rate after this many epochs.
    pub decay_after: Option<usize>,
    pub clip_grad_norm: Option<f64>,
    pub max_train_tokens: Option<usize>,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Small => "small",
            Preset::ZarembaSmall => "zaremba-small",
            Preset::Keras => "keras",
        }
    }

    /// The settings (`text`: a user's text file, which the small preset trains on whole).
    pub fn recipe(self, text: bool) -> Recipe {
        match self {
            Preset::Small => Recipe {
                embedding: 128,
                hidden: 128,
                layers: 2,
                dropout: 0.0,
                recurrent_dropout: 0.0,
                dense: None,
                batch_size: 32,
                unroll: 20,
                epochs: 4,
                optimizer: OptimizerConfig::Sgd,
                learning_rate: 1.0,
                decay_after: Some(2),
                clip_grad_norm: Some(5.0),
                max_train_tokens: if text { None } else { Some(300_000) },
            },
            Preset::ZarembaSmall => Recipe {
                embedding: 200,
                hidden: 200,
                layers: 2,
                dropout: 0.0,
                recurrent_dropout: 0.0,
                dense: None,
                batch_size: 20,
                unroll: 20,
                epochs: 13,
                optimizer: OptimizerConfig::Sgd,
                learning_rate: 1.0,
                decay_after: Some(4),
                clip_grad_norm: Some(5.0),
                max_train_tokens: None,
            },
            Preset::Keras => Recipe {
                embedding: 100,
                hidden: 64,
                layers: 1,
                dropout: 0.1,
                recurrent_dropout: 0.1,
                dense: Some(64),
                batch_size: 128,
                unroll: 10,
                epochs: 5,
                optimizer: OptimizerConfig::Adam { epsilon: 1e-7 },
                learning_rate: 1e-3,
                decay_after: None,
                clip_grad_norm: None,
                max_train_tokens: Some(200_000),
            },
        }
    }
}

/// Where the text comes from and how it is cut into tokens.
#[derive(Config, Debug)]
pub struct DataConfig {
    /// A Penn Treebank directory, or a text file.
    pub path: String,
    pub source: Source,
    pub tokenizer: TokenizerChoice,
    #[config(default = "None")]
    pub max_train_tokens: Option<usize>,
    #[config(default = "None")]
    pub vocab_size: Option<usize>,
}

/// Everything needed to rebuild the run: saved as `config.json`.
#[derive(Config, Debug)]
pub struct LmConfig {
    pub preset: Preset,
    pub data: DataConfig,
    pub model: LanguageModelConfig,
    pub training: TrainingConfig,
    pub batch_size: usize,
    /// Steps per chunk (streams), or the window length (the Keras recipe).
    pub unroll: usize,
    /// Fixed windows → next token (the Keras recipe) instead of streams.
    pub windows: bool,
    /// Optimise the loss summed over the unrolled steps (Zaremba et al.).
    pub sum_over_steps: bool,
    /// The embedding holds pre-trained vectors (`--glove`) and does not train: a resumed run
    /// keeps it frozen without being told again.
    #[config(default = false)]
    pub frozen_embedding: bool,
}

impl LmConfig {
    pub fn tokenizer(&self) -> Tokenizer {
        self.data.tokenizer.into()
    }
}

/// The preset's settings, with the command line's overrides.
pub fn build_config(args: &Args) -> Result<LmConfig> {
    let text = args.text.is_some();
    // A user's text takes the small preset's model, trained on all of it.
    let preset = if text { Preset::Small } else { args.preset };
    let recipe = preset.recipe(text);
    let optimizer = match args.adam {
        true => OptimizerConfig::adam(),
        false => recipe.optimizer,
    };
    let adam_default = args.adam && preset != Preset::Keras;
    let learning_rate = args.lr.unwrap_or(if adam_default {
        1e-3
    } else {
        recipe.learning_rate
    });
    let (init, scale) = match preset {
        Preset::Keras => (LstmInit::keras(), None),
        _ => (LstmInit::uniform(0.1), Some(0.1)),
    };
    let layers = args.layers.unwrap_or(recipe.layers);
    let dropout = args.dropout.unwrap_or(recipe.dropout);
    let lstm = LstmConfig::new(
        args.embedding.unwrap_or(recipe.embedding),
        args.hidden.unwrap_or(recipe.hidden),
    )
    .with_num_layers(layers)
    // Between layers the same rate as on the embeddings and the output (Zaremba et al.); a
    // one-layer LSTM has no place for it.
    .with_dropout(if layers > 1 { dropout } else { 0.0 })
    .with_recurrent_dropout(recipe.recurrent_dropout)
    .with_init(init);
    let model = LanguageModelConfig::new(2, lstm)
        .with_dropout(dropout)
        .with_dense_size(recipe.dense)
        .with_tie_weights(args.tie_weights)
        .with_other_init_scale(scale);
    let schedule = LrSchedule::new(learning_rate)
        .with_decay_after(if args.adam { None } else { recipe.decay_after })
        .with_decay(0.5);
    let training = TrainingConfig::new(args.epochs.unwrap_or(recipe.epochs), optimizer, schedule)
        .with_clip_grad_norm(args.clip.or(recipe.clip_grad_norm))
        .with_seed(args.seed);
    let batch_size = args.batch_size.unwrap_or(recipe.batch_size);
    let unroll = args.unroll.unwrap_or(recipe.unroll);
    for (name, value) in [
        ("--batch-size", batch_size),
        ("--unroll", unroll),
        ("--epochs", training.epochs),
    ] {
        if value == 0 {
            return Err(Error::Config(format!("{name} must be at least 1")));
        }
    }
    Ok(LmConfig::new(
        preset,
        data_config(args, recipe.max_train_tokens),
        model,
        training,
        batch_size,
        unroll,
        preset == Preset::Keras,
        preset != Preset::Keras,
    )
    .with_frozen_embedding(args.glove.is_some()))
}

/// The text's source and tokenizer: words for the Penn Treebank, characters for a text file,
/// unless `--tokenizer` says otherwise.
fn data_config(args: &Args, max_train_tokens: Option<usize>) -> DataConfig {
    let (path, source) = match &args.text {
        Some(file) => (file.display().to_string(), Source::Text),
        None => (args.data.display().to_string(), Source::Ptb),
    };
    let tokenizer = args.tokenizer.unwrap_or(match source {
        Source::Text => TokenizerChoice::Char,
        Source::Ptb => TokenizerChoice::Word,
    });
    DataConfig::new(path, source, tokenizer)
        .with_max_train_tokens(args.max_train_tokens.or(max_train_tokens))
        .with_vocab_size(args.vocab_size)
}
