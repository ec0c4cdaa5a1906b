//! Language modelling with an LSTM: train on the Penn Treebank (or any UTF-8 text), report
//! perplexity, generate text, and pick up saved models again.
//!
//! ```text
//! scripts/fetch-ptb.sh                                               # data/ptb/{train,valid,test}.txt
//! cargo run --release --example language_model                      # the small preset: minutes
//! cargo run --release --example language_model -- --preset zaremba-small [--tie-weights]
//! cargo run --release --example language_model -- --preset keras   # the seed's Keras recipe
//! cargo run --release --example language_model -- --text book.txt  # a character model
//! cargo run --release --example language_model -- --generate "the company" --temperature 0.8
//! cargo run --release --example language_model -- --evaluate
//! ```
//!
//! Artifacts go to `artifacts/lm/<preset>/` (or `--artifacts DIR`): `config.json`,
//! `vocab.json`, `model.bpk`, `metrics.csv`, `perplexity.png`, `samples.txt`, `checkpoint/`.

#[path = "../common/mod.rs"]
mod common;
mod config;
mod corpus;
mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use burn_lstm::files::load_module;
use burn_lstm_programs::backend::init_seeded;
use burn_lstm_programs::language::Vocabulary;
use burn_lstm_programs::language::{
    LanguageModel, NextTokenWindows, Sampling, StreamTask, WindowTask, generate,
};
use burn_lstm_programs::train::artifacts::{load_config, save_config};
use burn_lstm_programs::train::{TrainOutcome, Trainer};
use burn_lstm_programs::{Error, Result};
use clap::Parser;

use config::{LmConfig, Preset, TokenizerChoice, build_config};
use corpus::Corpus;
use report::{joiner, plot_perplexity, report_scores, score, write_samples};

/// Train an LSTM language model, evaluate its perplexity, or generate text with it.
#[derive(Parser, Debug)]
#[command(version)]
pub struct Args {
    /// The training recipe.
    #[arg(long, value_enum, default_value = "small")]
    pub preset: Preset,
    /// The Penn Treebank directory (train.txt, valid.txt, test.txt; see scripts/fetch-ptb.sh).
    #[arg(long, value_name = "DIR", default_value = "data/ptb")]
    pub data: PathBuf,
    /// Train on this UTF-8 text file instead (90% training, 5% validation, 5% test).
    #[arg(long, value_name = "FILE", conflicts_with = "data")]
    pub text: Option<PathBuf>,
    /// Tokens: words (default for the Penn Treebank) or characters (default for --text).
    #[arg(long, value_enum)]
    pub tokenizer: Option<TokenizerChoice>,
    /// Use only the first N training tokens.
    #[arg(long, value_name = "N")]
    pub max_train_tokens: Option<usize>,
    /// Keep the N most frequent tokens (the rest become <unk>).
    #[arg(long, value_name = "N")]
    pub vocab_size: Option<usize>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub hidden: Option<usize>,
    #[arg(long)]
    pub layers: Option<usize>,
    #[arg(long)]
    pub embedding: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Steps of truncated backpropagation through time.
    #[arg(long)]
    pub unroll: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Share the embedding with the output layer (Press & Wolf).
    #[arg(long)]
    pub tie_weights: bool,
    /// Start from these pre-trained word vectors (GloVe/word2vec text format), frozen.
    #[arg(long, value_name = "FILE")]
    pub glove: Option<PathBuf>,
    /// Adam instead of the preset's optimizer.
    #[arg(long)]
    pub adam: bool,
    /// Clip the global gradient norm to this value.
    #[arg(long)]
    pub clip: Option<f64>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where the artifacts go (default: artifacts/lm/<preset>, or artifacts/lm/text).
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,
    /// Continue the interrupted (or finished) run in the artifacts directory.
    #[arg(long)]
    pub resume: bool,
    /// Do not train: generate text continuing this prompt with the saved model.
    #[arg(long, value_name = "PROMPT", conflicts_with_all = ["resume", "evaluate"])]
    pub generate: Option<String>,
    /// Tokens to generate.
    #[arg(long, default_value_t = 40)]
    pub length: usize,
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Seed of the sampling (the same seed gives the same text).
    #[arg(long, default_value_t = 0)]
    pub sample_seed: u64,
    /// Do not train: report the saved model's validation and test perplexity.
    #[arg(long, conflicts_with = "resume")]
    pub evaluate: bool,
    #[command(flatten)]
    pub run: common::RunOptions,
}

fn main() -> ExitCode {
    common::exit_with(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    let (backend, device) = common::start_device(args.run.backend)?;
    let name = match args.text {
        Some(_) => "text",
        None => args.preset.name(),
    };
    let artifacts = args
        .artifacts
        .clone()
        .unwrap_or_else(|| PathBuf::from("artifacts/lm").join(name));
    if let Some(prompt) = &args.generate {
        return generate_text(&args, prompt, &artifacts, &device);
    }
    if args.evaluate {
        let (config, vocab, model) = load_artifacts(&artifacts, &device)?;
        let corpus = Corpus::load(&config.data, Some(vocab), config.windows)?;
        let valid = score(&config, &model, &corpus.valid, &device)?;
        let test = score(&config, &model, &corpus.test, &device)?;
        report_scores(&valid, &test);
        return Ok(());
    }
    println!("burn-lstm language model ({name}) on {backend}: {device:?}");
    train(&args, &artifacts, &device)
}

/// `--generate PROMPT`: the saved model continues the prompt.
fn generate_text(args: &Args, prompt: &str, artifacts: &Path, device: &Device) -> Result<()> {
    let (config, vocab, model) = load_artifacts(artifacts, device)?;
    let sampling = Sampling::new(args.length)
        .with_temperature(args.temperature)
        .with_top_k(args.top_k)
        .with_seed(args.sample_seed);
    let tokens = generate(&model, &vocab, prompt, &sampling, device)?;
    let tokenizer = config.tokenizer();
    println!(
        "{prompt}{}{}",
        joiner(tokenizer),
        tokenizer.detokenize(&tokens)
    );
    Ok(())
}

/// Trains (or resumes) a run, then reports its perplexity, samples and plot.
fn train(args: &Args, artifacts: &Path, device: &Device) -> Result<()> {
    let mut config = match args.resume {
        true => load_config::<LmConfig>(&artifacts.join("config.json"))
            .map_err(|err| Error::Training(format!("cannot resume: {err}")))?,
        false => build_config(args)?,
    };
    let saved_vocab = match args.resume {
        true => Some(Vocabulary::load(&artifacts.join("vocab.json"))?),
        false => None,
    };
    if let (true, Some(epochs)) = (args.resume, args.epochs) {
        config.training.epochs = epochs; // a resumed run keeps its settings but its length
    }
    let corpus = Corpus::load(&config.data, saved_vocab, config.windows)?;
    config.model.vocab_size = corpus.vocab.len();
    println!("data: {}", corpus.describe());
    let train_device = device.clone().autodiff();
    train_device.seed(config.training.seed);
    let model = init_seeded(config.training.seed, &train_device, |d| {
        config.model.try_init(d)
    })?;
    // A resumed run takes its vectors from its checkpoint.
    let glove = args.glove.as_deref().filter(|_| !args.resume);
    let model = with_word_vectors(model, &config, &corpus.vocab, glove, &train_device)?;
    println!("model: {} parameters", model.num_params());
    let started = Instant::now();
    let outcome = fit(args, &config, &corpus, model, artifacts, &train_device)?;
    let seconds = started.elapsed().as_secs_f64();
    let model = outcome.model.valid();
    let history = &outcome.state.history;
    let epochs_here = history.len() - outcome.resumed_from.unwrap_or(0);
    println!(
        "trained {} epochs in {seconds:.0} s ({:.1} s per epoch in this process)",
        history.len(),
        seconds / epochs_here.max(1) as f64
    );
    let valid = score(&config, &model, &corpus.valid, device)?;
    let test = score(&config, &model, &corpus.test, device)?;
    report_scores(&valid, &test);
    write_samples(&config, &model, &corpus.vocab, artifacts, device)?;
    match plot_perplexity(history, artifacts) {
        Ok(path) => println!("  wrote {}", path.display()),
        Err(err) => eprintln!("warning: plot not drawn: {err}"),
    }
    println!("artifacts: {}", artifacts.display());
    Ok(())
}

/// The training itself, on windows (the Keras recipe) or on streams. Everything is checked
/// before the artifacts directory is touched.
fn fit(
    args: &Args,
    config: &LmConfig,
    corpus: &Corpus,
    model: LanguageModel,
    artifacts: &Path,
    device: &Device,
) -> Result<TrainOutcome<LanguageModel>> {
    let trainer = Trainer::new(config.training.clone(), artifacts, device)
        .with_progress(args.run.progress.mode());
    if config.windows {
        let window = config.unroll;
        let mut task = WindowTask::new(
            NextTokenWindows::from_lines(&corpus.train, window),
            Some(NextTokenWindows::from_lines(&corpus.valid, window)),
            config.batch_size,
            device,
        );
        prepare_artifacts(args, artifacts, config, &corpus.vocab)?;
        return trainer.fit(model, &mut task, args.resume);
    }
    let mut task = StreamTask::new(
        &Corpus::flat(&corpus.train),
        Some(Corpus::flat(&corpus.valid)),
        config.batch_size,
        config.unroll,
        config.sum_over_steps,
        device,
    )?
    .with_evaluation(1, 100);
    prepare_artifacts(args, artifacts, config, &corpus.vocab)?;
    trainer.fit(model, &mut task, args.resume)
}

/// The model with pre-trained embeddings, if asked (`glove`: read from that file; a resumed
/// run has them in its checkpoint), frozen if the run's configuration says so.
fn with_word_vectors(
    mut model: LanguageModel,
    config: &LmConfig,
    vocab: &Vocabulary,
    glove: Option<&Path>,
    device: &Device,
) -> Result<LanguageModel> {
    if let Some(path) = glove {
        let (weight, found) = burn_lstm_programs::language::read_word_vectors(
            path,
            vocab,
            config.model.lstm.input_size,
            device,
        )?;
        println!(
            "pre-trained vectors for {found} of {} words from {}",
            vocab.len(),
            path.display()
        );
        model.embedding.weight = burn::module::Param::from_tensor(weight);
    }
    if config.frozen_embedding {
        println!("the embedding is frozen (pre-trained vectors)");
        model.embedding = model.embedding.no_grad();
    }
    Ok(model)
}

/// Moves an earlier run aside (unless resuming), then writes the configuration and the
/// vocabulary. Called once the data has been read and checked.
fn prepare_artifacts(
    args: &Args,
    artifacts: &Path,
    config: &LmConfig,
    vocab: &Vocabulary,
) -> Result<()> {
    common::make_room_for_run(artifacts, args.resume)?;
    save_config(config, &artifacts.join("config.json"))?;
    vocab.save(&artifacts.join("vocab.json"))
}

/// The configuration, vocabulary and model of a finished (or checkpointed) run.
fn load_artifacts(
    artifacts: &Path,
    device: &Device,
) -> Result<(LmConfig, Vocabulary, LanguageModel)> {
    let config: LmConfig = common::trained_config(artifacts, "")?;
    let vocab = Vocabulary::load(&artifacts.join("vocab.json"))?;
    if vocab.len() != config.model.vocab_size {
        return Err(Error::format(
            artifacts.join("vocab.json"),
            format!(
                "holds {} tokens but the model in {} was trained with {}: the vocabulary does not belong to this model",
                vocab.len(),
                artifacts.join("config.json").display(),
                config.model.vocab_size
            ),
        ));
    }
    let model = load_module(config.model.try_init(device)?, &artifacts.join("model.bpk"))?;
    Ok((config, vocab, model))
}
