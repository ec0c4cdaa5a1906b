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

mod common;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use burn_lstm::LstmInit;
use burn_lstm::files::{load_module, write_atomic};
use burn_lstm_programs::backend::init_seeded;
use burn_lstm_programs::data::{Tokenizer, Vocabulary, read_corpus};
use burn_lstm_programs::models::{
    LanguageModel, LanguageModelConfig, NextTokenWindows, Sampling, StreamTask, TextScore,
    WindowTask, generate, score_stream,
};
use burn_lstm_programs::plot::{Chart, Series, draw_chart, palette};
use burn_lstm_programs::train::artifacts::{load_config, save_config, set_aside_previous_run};
use burn_lstm_programs::train::{
    EpochRecord, LrSchedule, OptimizerConfig, Trainer, TrainingConfig,
};
use burn_lstm_programs::{Error, Result};
use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Preset {
    /// A 2×128 word model on the first 300 000 training tokens: a few minutes on a CPU.
    Small,
    /// Zaremba et al. (2014) "small": 2×200, unroll 20, batch 20, SGD 1.0 halved after epoch
    /// 4, global clip 5, 13 epochs, no dropout.
    ZarembaSmall,
    /// The seed's Keras recipe: windows of words → next word, Embedding(100), LSTM(64,
    /// dropout 0.1, recurrent dropout 0.1), Dense(64, relu), Dropout(0.5), softmax, Adam.
    Keras,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TokenizerChoice {
    Word,
    Char,
}

/// Train an LSTM language model, evaluate its perplexity, or generate text with it.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The training recipe.
    #[arg(long, value_enum, default_value = "small")]
    preset: Preset,
    /// The Penn Treebank directory (train.txt, valid.txt, test.txt; see scripts/fetch-ptb.sh).
    #[arg(long, value_name = "DIR", default_value = "data/ptb")]
    data: PathBuf,
    /// Train on this UTF-8 text file instead (90% training, 5% validation, 5% test).
    #[arg(long, value_name = "FILE", conflicts_with = "data")]
    text: Option<PathBuf>,
    /// Tokens: words (default for the Penn Treebank) or characters (default for --text).
    #[arg(long, value_enum)]
    tokenizer: Option<TokenizerChoice>,
    /// Use only the first N training tokens.
    #[arg(long, value_name = "N")]
    max_train_tokens: Option<usize>,
    /// Keep the N most frequent tokens (the rest become <unk>).
    #[arg(long, value_name = "N")]
    vocab_size: Option<usize>,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    hidden: Option<usize>,
    #[arg(long)]
    layers: Option<usize>,
    #[arg(long)]
    embedding: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    /// Steps of truncated backpropagation through time.
    #[arg(long)]
    unroll: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    dropout: Option<f64>,
    /// Share the embedding with the output layer (Press & Wolf).
    #[arg(long)]
    tie_weights: bool,
    /// Start from these pre-trained word vectors (GloVe/word2vec text format), frozen.
    #[arg(long, value_name = "FILE")]
    glove: Option<PathBuf>,
    /// Adam instead of the preset's optimizer.
    #[arg(long)]
    adam: bool,
    /// Clip the global gradient norm to this value.
    #[arg(long)]
    clip: Option<f64>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where the artifacts go (default: artifacts/lm/<preset>, or artifacts/lm/text).
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
    /// Continue the interrupted (or finished) run in the artifacts directory.
    #[arg(long)]
    resume: bool,
    /// Do not train: generate text continuing this prompt with the saved model.
    #[arg(long, value_name = "PROMPT", conflicts_with_all = ["resume", "evaluate"])]
    generate: Option<String>,
    /// Tokens to generate.
    #[arg(long, default_value_t = 40)]
    length: usize,
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    #[arg(long)]
    top_k: Option<usize>,
    /// Seed of the sampling (the same seed gives the same text).
    #[arg(long, default_value_t = 0)]
    sample_seed: u64,
    /// Do not train: report the saved model's validation and test perplexity.
    #[arg(long, conflicts_with = "resume")]
    evaluate: bool,
    #[command(flatten)]
    run: common::RunOptions,
}

/// Where the text comes from and how it is cut into tokens.
#[derive(Config, Debug)]
struct DataConfig {
    /// A Penn Treebank directory, or a text file.
    path: String,
    /// "ptb" or "text".
    source: String,
    /// "word" or "char".
    tokenizer: String,
    #[config(default = "None")]
    max_train_tokens: Option<usize>,
    #[config(default = "None")]
    vocab_size: Option<usize>,
}

/// Everything needed to rebuild the run: saved as `config.json`.
#[derive(Config, Debug)]
struct LmConfig {
    preset: String,
    data: DataConfig,
    model: LanguageModelConfig,
    training: TrainingConfig,
    batch_size: usize,
    /// Steps per chunk (streams), or the window length (the Keras recipe).
    unroll: usize,
    /// Fixed windows → next token (the Keras recipe) instead of streams.
    windows: bool,
    /// Optimise the loss summed over the unrolled steps (Zaremba et al.).
    sum_over_steps: bool,
    /// The embedding holds pre-trained vectors (`--glove`) and does not train: a resumed run
    /// keeps it frozen without being told again.
    #[config(default = false)]
    frozen_embedding: bool,
}

/// The three splits as token indices (lines of them for the window task).
struct Corpus {
    vocab: Vocabulary,
    train: Vec<Vec<usize>>,
    valid: Vec<Vec<usize>>,
    test: Vec<Vec<usize>>,
}

impl Corpus {
    fn flat(split: &[Vec<usize>]) -> Vec<usize> {
        split.concat()
    }
}

fn main() -> ExitCode {
    common::exit_with(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    let (backend, device) = common::start_device(args.run.backend)?;
    let name = if args.text.is_some() {
        "text"
    } else {
        preset_name(args.preset)
    };
    let artifacts = args
        .artifacts
        .clone()
        .unwrap_or_else(|| PathBuf::from("artifacts/lm").join(name));

    if let Some(prompt) = &args.generate {
        let (config, vocab, model) = load_artifacts(&artifacts, &device)?;
        let sampling = Sampling::new(args.length)
            .with_temperature(args.temperature)
            .with_top_k(args.top_k)
            .with_seed(args.sample_seed);
        let tokens = generate(&model, &vocab, prompt, &sampling, &device)?;
        let tokenizer = tokenizer_of(&config.data);
        println!(
            "{prompt}{}{}",
            if tokenizer == Tokenizer::Word {
                " "
            } else {
                ""
            },
            tokenizer.detokenize(&tokens)
        );
        return Ok(());
    }
    if args.evaluate {
        let (config, vocab, model) = load_artifacts(&artifacts, &device)?;
        let corpus = load_corpus(&config.data, Some(vocab), config.windows)?;
        let (valid, test) = (
            score(&config, &model, &corpus.valid, &device)?,
            score(&config, &model, &corpus.test, &device)?,
        );
        report_scores(&valid, &test);
        return Ok(());
    }

    println!("burn-lstm language model ({name}) on {backend}: {device:?}");
    let mut config = if args.resume {
        load_config::<LmConfig>(&artifacts.join("config.json"))
            .map_err(|err| Error::Training(format!("cannot resume: {err}")))?
    } else {
        build_config(&args)?
    };
    if args.resume
        && let Some(epochs) = args.epochs
    {
        config.training.epochs = epochs;
    }
    let saved_vocab = if args.resume {
        Some(Vocabulary::load(&artifacts.join("vocab.json"))?)
    } else {
        None
    };
    let corpus = load_corpus(&config.data, saved_vocab, config.windows)?;
    config.model.vocab_size = corpus.vocab.len();
    let train_tokens: usize = corpus.train.iter().map(Vec::len).sum();
    println!(
        "data: {} training, {} validation, {} test tokens; vocabulary {}",
        train_tokens,
        corpus.valid.iter().map(Vec::len).sum::<usize>(),
        corpus.test.iter().map(Vec::len).sum::<usize>(),
        corpus.vocab.len()
    );
    let train_device = device.clone().autodiff();
    train_device.seed(config.training.seed);
    let model = init_seeded(config.training.seed, &train_device, |d| {
        config.model.try_init(d)
    })?;
    // A resumed run takes its vectors from its checkpoint.
    let glove = args.glove.as_deref().filter(|_| !args.resume);
    let model = with_word_vectors(model, &config, &corpus.vocab, glove, &train_device)?;
    println!("model: {} parameters", model.num_params());
    let trainer = Trainer::new(config.training.clone(), &artifacts, &train_device)
        .with_progress(args.run.progress.mode());

    // Everything is checked before the artifacts directory is touched.
    let started = Instant::now();
    let outcome = if config.windows {
        let window = config.unroll;
        let mut task = WindowTask::new(
            NextTokenWindows::from_lines(&corpus.train, window),
            Some(NextTokenWindows::from_lines(&corpus.valid, window)),
            config.batch_size,
            &train_device,
        );
        prepare_artifacts(&args, &artifacts, &config, &corpus.vocab)?;
        trainer.fit(model, &mut task, args.resume)?
    } else {
        let mut task = StreamTask::new(
            &Corpus::flat(&corpus.train),
            Some(Corpus::flat(&corpus.valid)),
            config.batch_size,
            config.unroll,
            config.sum_over_steps,
            &train_device,
        )?
        .with_evaluation(1, 100);
        prepare_artifacts(&args, &artifacts, &config, &corpus.vocab)?;
        trainer.fit(model, &mut task, args.resume)?
    };
    let seconds = started.elapsed().as_secs_f64();
    let model = outcome.model.valid();
    let history = &outcome.state.history;
    let epochs_here = history.len() - outcome.resumed_from.unwrap_or(0);
    println!(
        "trained {} epochs in {seconds:.0} s ({:.1} s per epoch in this process)",
        history.len(),
        seconds / epochs_here.max(1) as f64
    );
    let valid = score(&config, &model, &corpus.valid, &device)?;
    let test = score(&config, &model, &corpus.test, &device)?;
    report_scores(&valid, &test);
    write_samples(&config, &model, &corpus.vocab, &artifacts, &device)?;
    match plot_perplexity(history, &artifacts) {
        Ok(path) => println!("  wrote {}", path.display()),
        Err(err) => eprintln!("warning: plot not drawn: {err}"),
    }
    println!("artifacts: {}", artifacts.display());
    Ok(())
}

fn preset_name(preset: Preset) -> &'static str {
    match preset {
        Preset::Small => "small",
        Preset::ZarembaSmall => "zaremba-small",
        Preset::Keras => "keras",
    }
}

fn tokenizer_of(data: &DataConfig) -> Tokenizer {
    if data.tokenizer == "char" {
        Tokenizer::Char
    } else {
        Tokenizer::Word
    }
}

/// The preset's settings, with the command line's overrides.
fn build_config(args: &Args) -> Result<LmConfig> {
    let text = args.text.is_some();
    let tokenizer = match (args.tokenizer, text) {
        (Some(TokenizerChoice::Char), _) | (None, true) => "char",
        _ => "word",
    };
    let (path, source) = match &args.text {
        Some(file) => (file.display().to_string(), "text"),
        None => (args.data.display().to_string(), "ptb"),
    };
    let preset = if text { Preset::Small } else { args.preset };
    // (embedding, hidden, layers, dropout, recurrent dropout, dense, batch, unroll, epochs,
    //  optimizer, lr, decay after, clip, max train tokens)
    let (
        embedding,
        hidden,
        layers,
        dropout,
        recurrent_dropout,
        dense,
        batch,
        unroll,
        epochs,
        optimizer,
        lr,
        decay_after,
        clip,
        max_tokens,
    ) = match preset {
        Preset::Small => (
            128,
            128,
            2,
            0.0,
            0.0,
            None,
            32,
            20,
            4,
            OptimizerConfig::Sgd,
            1.0,
            Some(2),
            Some(5.0),
            if text { None } else { Some(300_000) },
        ),
        Preset::ZarembaSmall => (
            200,
            200,
            2,
            0.0,
            0.0,
            None,
            20,
            20,
            13,
            OptimizerConfig::Sgd,
            1.0,
            Some(4),
            Some(5.0),
            None,
        ),
        Preset::Keras => (
            100,
            64,
            1,
            0.1,
            0.1,
            Some(64),
            128,
            10,
            5,
            OptimizerConfig::Adam { epsilon: 1e-7 },
            1e-3,
            None,
            None,
            Some(200_000),
        ),
    };
    let optimizer = if args.adam {
        OptimizerConfig::adam()
    } else {
        optimizer
    };
    let lr = args.lr.unwrap_or(if args.adam && preset != Preset::Keras {
        1e-3
    } else {
        lr
    });
    let embedding = args.embedding.unwrap_or(embedding);
    let (init, scale) = match preset {
        Preset::Keras => (LstmInit::keras(), None),
        _ => (LstmInit::uniform(0.1), Some(0.1)),
    };
    let model = LanguageModelConfig::new(2, embedding, args.hidden.unwrap_or(hidden))
        .with_num_layers(args.layers.unwrap_or(layers))
        .with_dropout(args.dropout.unwrap_or(dropout))
        .with_recurrent_dropout(recurrent_dropout)
        .with_dense_size(dense)
        .with_tie_weights(args.tie_weights)
        .with_init(init)
        .with_other_init_scale(scale);
    let schedule = LrSchedule::new(lr)
        .with_decay_after(if args.adam { None } else { decay_after })
        .with_decay(0.5);
    let training = TrainingConfig::new(args.epochs.unwrap_or(epochs), optimizer, schedule)
        .with_clip_grad_norm(args.clip.or(clip))
        .with_seed(args.seed);
    for (name, value) in [
        ("--batch-size", args.batch_size.unwrap_or(batch)),
        ("--unroll", args.unroll.unwrap_or(unroll)),
        ("--epochs", training.epochs),
    ] {
        if value == 0 {
            return Err(Error::Config(format!("{name} must be at least 1")));
        }
    }
    let data = DataConfig::new(path, source.to_string(), tokenizer.to_string())
        .with_max_train_tokens(args.max_train_tokens.or(max_tokens))
        .with_vocab_size(args.vocab_size);
    Ok(LmConfig::new(
        preset_name(preset).to_string(),
        data,
        model,
        training,
        args.batch_size.unwrap_or(batch),
        args.unroll.unwrap_or(unroll),
        preset == Preset::Keras,
        preset != Preset::Keras,
    )
    .with_frozen_embedding(args.glove.is_some()))
}

/// Reads and tokenizes the three splits; builds the vocabulary from the training split (or
/// takes the saved one). Lines are kept for the window task (padding index 0 reserved).
fn load_corpus(data: &DataConfig, vocab: Option<Vocabulary>, windows: bool) -> Result<Corpus> {
    let tokenizer = tokenizer_of(data);
    let (train_text, valid_text, test_text) = if data.source == "ptb" {
        let dir = Path::new(&data.path);
        if !dir.join("train.txt").exists() {
            return Err(Error::format(
                dir,
                "no train.txt here: run scripts/fetch-ptb.sh, or pass --text FILE",
            ));
        }
        (
            read_corpus(&dir.join("train.txt"))?,
            read_corpus(&dir.join("valid.txt"))?,
            read_corpus(&dir.join("test.txt"))?,
        )
    } else {
        let text = read_corpus(Path::new(&data.path))?;
        let chars: Vec<char> = text.chars().collect();
        let (a, b) = (chars.len() * 90 / 100, chars.len() * 95 / 100);
        let part = |range: std::ops::Range<usize>| chars[range].iter().collect::<String>();
        (part(0..a), part(a..b), part(b..chars.len()))
    };
    let lines = |text: &str| -> Vec<Vec<String>> {
        match tokenizer {
            Tokenizer::Word => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| tokenizer.tokenize(l))
                .collect(),
            Tokenizer::Char => vec![tokenizer.tokenize(text)],
        }
    };
    let mut train_lines = lines(&train_text);
    if let Some(limit) = data.max_train_tokens {
        let mut kept = 0;
        train_lines.retain(|line| {
            kept += line.len();
            kept <= limit
        });
        if tokenizer == Tokenizer::Char
            && let Some(line) = train_lines.first_mut()
        {
            line.truncate(limit);
        }
    }
    let (valid_lines, test_lines) = (lines(&valid_text), lines(&test_text));
    let vocab = match vocab {
        Some(vocab) => vocab,
        // The Penn Treebank's training split holds its whole vocabulary (<unk> included). For
        // a user's text the symbols of all of it are known, so held-out text can be encoded.
        None if data.source == "ptb" => {
            Vocabulary::build(tokenizer, &train_lines.concat(), data.vocab_size, windows)
        }
        None => {
            let all = [
                train_lines.concat(),
                valid_lines.concat(),
                test_lines.concat(),
            ]
            .concat();
            Vocabulary::build(tokenizer, &all, data.vocab_size, windows)
        }
    };
    let encode = |split: Vec<Vec<String>>| {
        split
            .iter()
            .map(|line| vocab.encode(line))
            .collect::<Result<Vec<_>>>()
    };
    let (train, valid, test) = (
        encode(train_lines)?,
        encode(valid_lines)?,
        encode(test_lines)?,
    );
    for (name, split) in [
        ("training", &train),
        ("validation", &valid),
        ("test", &test),
    ] {
        if split.iter().map(Vec::len).sum::<usize>() < 2 {
            return Err(Error::format(
                &data.path,
                format!("the {name} text has fewer than two tokens"),
            ));
        }
    }
    Ok(Corpus {
        vocab,
        train,
        valid,
        test,
    })
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
        let (weight, found) = burn_lstm_programs::data::read_word_vectors(
            path,
            vocab,
            config.model.embedding_size,
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
    if !args.resume
        && let Some(previous) = set_aside_previous_run(artifacts)?
    {
        println!(
            "an earlier run in {} was moved to {}",
            artifacts.display(),
            previous.display()
        );
    }
    save_config(config, &artifacts.join("config.json"))?;
    vocab.save(&artifacts.join("vocab.json"))
}

/// The configuration, vocabulary and model of a finished (or checkpointed) run.
fn load_artifacts(
    artifacts: &Path,
    device: &Device,
) -> Result<(LmConfig, Vocabulary, LanguageModel)> {
    let config_path = artifacts.join("config.json");
    if !config_path.exists() {
        return Err(Error::Training(format!(
            "no trained model in {} ({} is missing); train one first",
            artifacts.display(),
            config_path.display()
        )));
    }
    let config: LmConfig = load_config(&config_path)?;
    let vocab = Vocabulary::load(&artifacts.join("vocab.json"))?;
    if vocab.len() != config.model.vocab_size {
        return Err(Error::format(
            artifacts.join("vocab.json"),
            format!(
                "holds {} tokens but the model in {} was trained with {}: the vocabulary does not belong to this model",
                vocab.len(),
                config_path.display(),
                config.model.vocab_size
            ),
        ));
    }
    let model = load_module(config.model.try_init(device)?, &artifacts.join("model.bpk"))?;
    Ok((config, vocab, model))
}

/// Perplexity and accuracy on a held-out split.
fn score(
    config: &LmConfig,
    model: &LanguageModel,
    split: &[Vec<usize>],
    device: &Device,
) -> Result<TextScore> {
    if config.windows {
        NextTokenWindows::from_lines(split, config.unroll).score(model, 256, device)
    } else {
        // One stream: every token predicted from everything before it.
        score_stream(model, &Corpus::flat(split), 1, 100, device)
    }
}

fn report_scores(valid: &TextScore, test: &TextScore) {
    println!(
        "  validation: perplexity {:.2}, accuracy {:.1}% ({} tokens)",
        valid.perplexity(),
        100.0 * valid.accuracy,
        valid.tokens
    );
    println!(
        "  test:       perplexity {:.2}, accuracy {:.1}% ({} tokens)",
        test.perplexity(),
        100.0 * test.accuracy,
        test.tokens
    );
}

/// A few generated continuations, for a person to read.
fn write_samples(
    config: &LmConfig,
    model: &LanguageModel,
    vocab: &Vocabulary,
    artifacts: &Path,
    device: &Device,
) -> Result<()> {
    let tokenizer = tokenizer_of(&config.data);
    let prompts: &[&str] = match tokenizer {
        Tokenizer::Word => &["the", "in the first quarter", "the company said"],
        Tokenizer::Char => &["The ", "And ", "I "],
    };
    let mut text = String::new();
    for (seed, prompt) in prompts.iter().enumerate() {
        if vocab
            .encode(
                &tokenizer
                    .tokenize(prompt)
                    .into_iter()
                    .filter(|t| t != "<eos>")
                    .collect::<Vec<_>>(),
            )
            .is_err()
        {
            continue;
        }
        for temperature in [0.7, 1.0] {
            let sampling = Sampling::new(if tokenizer == Tokenizer::Word {
                30
            } else {
                200
            })
            .with_temperature(temperature)
            .with_seed(seed as u64);
            let tokens = generate(model, vocab, prompt, &sampling, device)?;
            let joiner = if tokenizer == Tokenizer::Word {
                " "
            } else {
                ""
            };
            text += &format!(
                "[prompt {prompt:?}, temperature {temperature}, seed {seed}]\n{prompt}{joiner}{}\n\n",
                tokenizer.detokenize(&tokens)
            );
        }
    }
    let path = artifacts.join("samples.txt");
    write_atomic(&path, text.as_bytes())?;
    let first = text.lines().nth(1).unwrap_or_default();
    println!("  sample: {first}");
    println!("  wrote {}", path.display());
    Ok(())
}

fn plot_perplexity(history: &[EpochRecord], artifacts: &Path) -> Result<PathBuf> {
    let train = history
        .iter()
        .map(|r| (r.epoch as f64, r.train_loss.exp()))
        .collect();
    let valid: Vec<(f64, f64)> = history
        .iter()
        .filter_map(|r| r.valid_loss.map(|v| (r.epoch as f64, v.exp())))
        .collect();
    let path = artifacts.join("perplexity.png");
    draw_chart(
        &Chart {
            title: "Perplexity".into(),
            x_label: "epoch".into(),
            y_label: "perplexity".into(),
            log_y: true,
            series: vec![
                Series::line("training", train, palette::BLUE),
                Series::line("validation", valid, palette::ORANGE),
            ],
        },
        &path,
    )?;
    Ok(path)
}
