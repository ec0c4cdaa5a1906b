//! What a finished run reports: perplexity and accuracy, samples of generated text, the
//! perplexity per epoch as a picture.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn_lstm::files::write_atomic;
use burn_lstm_programs::Result;
use burn_lstm_programs::language::{
    LanguageModel, NextTokenWindows, Sampling, TextScore, generate, score_stream,
};
use burn_lstm_programs::language::{Tokenizer, Vocabulary};
use burn_lstm_programs::plot::{Chart, Series, draw_chart, palette};
use burn_lstm_programs::train::EpochRecord;

use crate::config::LmConfig;
use crate::corpus::Corpus;

/// Perplexity and accuracy on a held-out split.
pub fn score(
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

pub fn report_scores(valid: &TextScore, test: &TextScore) {
    for (name, score) in [("validation:", valid), ("test:      ", test)] {
        println!(
            "  {name} perplexity {:.2}, accuracy {:.1}% ({} tokens)",
            score.perplexity(),
            100.0 * score.accuracy,
            score.tokens
        );
    }
}

/// What goes between a prompt and its continuation.
pub fn joiner(tokenizer: Tokenizer) -> &'static str {
    match tokenizer {
        Tokenizer::Word => " ",
        Tokenizer::Char => "",
    }
}

/// A few generated continuations, for a person to read: `samples.txt`.
pub fn write_samples(
    config: &LmConfig,
    model: &LanguageModel,
    vocab: &Vocabulary,
    artifacts: &Path,
    device: &Device,
) -> Result<()> {
    let tokenizer = config.tokenizer();
    let (prompts, length): (&[&str], usize) = match tokenizer {
        Tokenizer::Word => (&["the", "in the first quarter", "the company said"], 30),
        Tokenizer::Char => (&["The ", "And ", "I "], 200),
    };
    let mut text = String::new();
    for (seed, prompt) in prompts.iter().enumerate() {
        let tokens: Vec<String> = tokenizer
            .tokenize(prompt)
            .into_iter()
            .filter(|token| token != "<eos>")
            .collect();
        if vocab.encode(&tokens).is_err() {
            continue; // a prompt this vocabulary cannot write
        }
        for temperature in [0.7, 1.0] {
            let sampling = Sampling::new(length)
                .with_temperature(temperature)
                .with_seed(seed as u64);
            let generated = generate(model, vocab, prompt, &sampling, device)?;
            text += &format!(
                "[prompt {prompt:?}, temperature {temperature}, seed {seed}]\n{prompt}{}{}\n\n",
                joiner(tokenizer),
                tokenizer.detokenize(&generated)
            );
        }
    }
    let path = artifacts.join("samples.txt");
    write_atomic(&path, text.as_bytes())?;
    println!("  sample: {}", text.lines().nth(1).unwrap_or_default());
    println!("  wrote {}", path.display());
    Ok(())
}

/// `perplexity.png`: training and validation perplexity per epoch.
pub fn plot_perplexity(history: &[EpochRecord], artifacts: &Path) -> Result<PathBuf> {
    let train = history
        .iter()
        .map(|r| (r.epoch as f64, r.train_loss.exp()))
        .collect();
    let valid = history
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
            x_format: None,
            series: vec![
                Series::line("training", train, palette::BLUE),
                Series::line("validation", valid, palette::ORANGE),
            ],
        },
        &path,
    )?;
    Ok(path)
}
