//! The text: read, split, tokenized, encoded with the vocabulary.

use std::path::Path;

use burn_lstm_programs::language::{Tokenizer, Vocabulary, read_corpus};
use burn_lstm_programs::{Error, Result};

use crate::config::{DataConfig, Source};

/// The three splits as token indices (lines of them for the window task).
pub struct Corpus {
    pub vocab: Vocabulary,
    pub train: Vec<Vec<usize>>,
    pub valid: Vec<Vec<usize>>,
    pub test: Vec<Vec<usize>>,
}

/// The three splits as text.
struct Texts {
    train: String,
    valid: String,
    test: String,
}

/// A split's tokens, by line (one line for characters).
type Lines = Vec<Vec<String>>;

impl Corpus {
    /// A split as one stream.
    pub fn flat(split: &[Vec<usize>]) -> Vec<usize> {
        split.concat()
    }

    /// Tokens of each split, for a person.
    pub fn describe(&self) -> String {
        let count = |split: &[Vec<usize>]| split.iter().map(Vec::len).sum::<usize>();
        format!(
            "{} training, {} validation, {} test tokens; vocabulary {}",
            count(&self.train),
            count(&self.valid),
            count(&self.test),
            self.vocab.len()
        )
    }

    /// Reads and tokenizes the three splits; builds the vocabulary from the training split
    /// (or takes the saved one). Lines are kept for the window task (`windows`: padding index
    /// 0 reserved).
    pub fn load(data: &DataConfig, vocab: Option<Vocabulary>, windows: bool) -> Result<Corpus> {
        let tokenizer: Tokenizer = data.tokenizer.into();
        let texts = read_texts(data)?;
        let lines = |text: &str| -> Lines {
            match tokenizer {
                Tokenizer::Word => text
                    .lines()
                    .filter(|line| !line.trim().is_empty())
                    .map(|line| tokenizer.tokenize(line))
                    .collect(),
                Tokenizer::Char => vec![tokenizer.tokenize(text)],
            }
        };
        let mut train = lines(&texts.train);
        if let Some(limit) = data.max_train_tokens {
            keep_first_tokens(&mut train, limit, tokenizer);
        }
        let (valid, test) = (lines(&texts.valid), lines(&texts.test));
        let vocab = match vocab {
            Some(vocab) => vocab,
            // The Penn Treebank's training split holds its whole vocabulary (<unk> included).
            // For a user's text the symbols of all of it are known, so held-out text can be
            // encoded.
            None => {
                let known = match data.source {
                    Source::Ptb => train.concat(),
                    Source::Text => [train.concat(), valid.concat(), test.concat()].concat(),
                };
                Vocabulary::build(tokenizer, &known, data.vocab_size, windows)
            }
        };
        let encode = |split: Lines| {
            split
                .iter()
                .map(|line| vocab.encode(line))
                .collect::<Result<Vec<_>>>()
        };
        let corpus = Corpus {
            train: encode(train)?,
            valid: encode(valid)?,
            test: encode(test)?,
            vocab,
        };
        corpus.check(&data.path)?;
        Ok(corpus)
    }

    /// Every split has something to predict.
    fn check(&self, path: &str) -> Result<()> {
        for (name, split) in [
            ("training", &self.train),
            ("validation", &self.valid),
            ("test", &self.test),
        ] {
            if split.iter().map(Vec::len).sum::<usize>() < 2 {
                return Err(Error::format(
                    path,
                    format!("the {name} text has fewer than two tokens"),
                ));
            }
        }
        Ok(())
    }
}

/// The Penn Treebank's three files, or a text file cut 90 / 5 / 5 by characters.
fn read_texts(data: &DataConfig) -> Result<Texts> {
    match data.source {
        Source::Ptb => {
            let dir = Path::new(&data.path);
            if !dir.join("train.txt").exists() {
                return Err(Error::format(
                    dir,
                    "no train.txt here: run scripts/fetch-ptb.sh, or pass --text FILE",
                ));
            }
            Ok(Texts {
                train: read_corpus(&dir.join("train.txt"))?,
                valid: read_corpus(&dir.join("valid.txt"))?,
                test: read_corpus(&dir.join("test.txt"))?,
            })
        }
        Source::Text => {
            let chars: Vec<char> = read_corpus(Path::new(&data.path))?.chars().collect();
            let (a, b) = (chars.len() * 90 / 100, chars.len() * 95 / 100);
            let part = |range: std::ops::Range<usize>| chars[range].iter().collect::<String>();
            Ok(Texts {
                train: part(0..a),
                valid: part(a..b),
                test: part(b..chars.len()),
            })
        }
    }
}

/// Keeps the first `limit` tokens: whole lines of words, or the characters of the one line.
fn keep_first_tokens(lines: &mut Lines, limit: usize, tokenizer: Tokenizer) {
    match tokenizer {
        Tokenizer::Char => {
            if let Some(line) = lines.first_mut() {
                line.truncate(limit);
            }
        }
        Tokenizer::Word => {
            let mut kept = 0;
            lines.retain(|line| {
                kept += line.len();
                kept <= limit
            });
        }
    }
}
