//! Language modelling: tokens and vocabulary, stream batching, the carried state, learning a
//! tiny corpus, generation, reloading, and the program's answers to bad input.

mod common;

use std::fs;

use burn::prelude::*;
use burn::tensor::Int;
use burn_lstm::LstmConfig;
use burn_lstm::files::{load_module, save_module};
use burn_lstm_programs::language::{
    LanguageModelConfig, Sampling, StreamTask, generate, score_stream,
};
use burn_lstm_programs::language::{StreamBatches, Tokenizer, Vocabulary};
use burn_lstm_programs::train::{
    LrSchedule, OptimizerConfig, ProgressMode, TrainTask, Trainer, TrainingConfig,
};
use common::max_abs_diff;
use common::program::{assert_succeeded_saying, example, text};

fn words(text: &str) -> Vec<String> {
    Tokenizer::Word.tokenize(text)
}

#[test]
fn tokens_and_vocabulary_round_trip() {
    let text = "the cat sat\nthe dog sat down\n";
    let tokens = words(text);
    assert_eq!(
        tokens,
        [
            "the", "cat", "sat", "<eos>", "the", "dog", "sat", "down", "<eos>"
        ]
    );
    assert_eq!(Tokenizer::Word.detokenize(&tokens), text);
    let chars = Tokenizer::Char.tokenize("héllo\n");
    assert_eq!(Tokenizer::Char.detokenize(&chars), "héllo\n");

    let vocab = Vocabulary::build(Tokenizer::Word, &tokens, None, true);
    assert_eq!(vocab.tokens[0], "<pad>", "padding is index 0");
    assert_eq!(vocab.tokens[1], "the", "most frequent first");
    let indices = vocab.encode(&tokens).unwrap();
    assert_eq!(vocab.decode(&indices), tokens);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vocab.json");
    vocab.save(&path).unwrap();
    let loaded = Vocabulary::load(&path).unwrap();
    assert_eq!(loaded, vocab);
    assert_eq!(loaded.encode(&tokens).unwrap(), indices);

    // A capped vocabulary maps the rest to <unk>.
    let capped = Vocabulary::build(Tokenizer::Word, &tokens, Some(4), false);
    assert_eq!(capped.len(), 4);
    let unknown = capped.encode(&words("zebra")).unwrap();
    assert_eq!(capped.decode(&unknown)[0], "<unk>");
    // Without <unk>, an unknown word is an error that names it.
    let full = Vocabulary::build(Tokenizer::Word, &tokens, None, false);
    let message = full.encode(&words("zebra")).unwrap_err().to_string();
    assert!(
        message.contains("`zebra` is not in the vocabulary"),
        "{message}"
    );
}

#[test]
fn streams_stay_contiguous_across_chunks() {
    let tokens: Vec<usize> = (0..1000).collect();
    let batches = StreamBatches::new(&tokens, 4, 7).unwrap();
    let length = 1000 / 4;
    let mut previous_last: Vec<Option<usize>> = vec![None; 4];
    let mut seen: Vec<Vec<usize>> = vec![Vec::new(); 4];
    for chunk in 0..batches.len() {
        let (inputs, targets, steps) = batches.chunk(chunk);
        for row in 0..4 {
            let input = &inputs[row * steps..(row + 1) * steps];
            let target = &targets[row * steps..(row + 1) * steps];
            // Targets are the inputs shifted by one, within the stream.
            assert_eq!(&input[1..], &target[..steps - 1]);
            // A chunk continues the previous one of the same stream.
            if let Some(last) = previous_last[row] {
                assert_eq!(input[0], last, "row {row}, chunk {chunk}");
            }
            previous_last[row] = Some(*target.last().unwrap());
            seen[row].extend_from_slice(input);
        }
    }
    for (row, stream) in seen.iter().enumerate() {
        // Each row reads one contiguous run of the text, all of it but the last token.
        let start = row * length;
        assert_eq!(stream, &(start..start + length - 1).collect::<Vec<_>>());
    }
}

fn tiny_corpus() -> (Vocabulary, Vec<usize>) {
    let text = "abcd".repeat(300);
    let tokens = Tokenizer::Char.tokenize(&text);
    let vocab = Vocabulary::build(Tokenizer::Char, &tokens, None, false);
    let indices = vocab.encode(&tokens).unwrap();
    (vocab, indices)
}

#[test]
fn the_carried_state_is_cut_from_the_graph() {
    let device = Device::flex().autodiff();
    let (vocab, tokens) = tiny_corpus();
    let model = LanguageModelConfig::new(vocab.len(), LstmConfig::new(8, 8)).init(&device);
    let mut task = StreamTask::new(&tokens, None, 4, 10, false, &device).unwrap();
    let batches = task.start_epoch(0, 1);
    assert!(batches >= 3);
    for batch in 0..3 {
        let loss = task.batch_loss(&model, batch).loss;
        let state = task.carried_state().expect("a state is carried");
        assert!(
            !state.hidden.is_tracked() && !state.cell.is_tracked(),
            "batch {batch}: the carried state is still tracked"
        );
        // Backward of a later batch reaches only its own chunk: it works on its own.
        let _ = loss.backward();
    }
}

#[test]
fn a_tiny_corpus_is_learned_and_generation_repeats_with_its_seed() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex().autodiff();
    device.seed(3);
    let (vocab, tokens) = tiny_corpus();
    let config = LanguageModelConfig::new(vocab.len(), LstmConfig::new(16, 32));
    let model = config.init(&device);
    let cut = tokens.len() * 9 / 10;
    let mut task = StreamTask::new(
        &tokens[..cut],
        Some(tokens[cut..].to_vec()),
        8,
        16,
        false,
        &device,
    )
    .unwrap();
    let training = TrainingConfig::new(15, OptimizerConfig::adam(), LrSchedule::constant(1e-2));
    let outcome = Trainer::new(training, dir.path(), &device)
        .with_progress(ProgressMode::Silent)
        .fit(model, &mut task, false)
        .unwrap();
    let score = score_stream(&outcome.model, &tokens[cut..], 1, 50, &device).unwrap();
    println!(
        "tiny corpus: perplexity {:.3}, accuracy {:.3}",
        score.perplexity(),
        score.accuracy
    );
    assert!(
        score.perplexity() < 1.2,
        "perplexity {}",
        score.perplexity()
    );

    let model = outcome.model;
    let sampling = |seed| Sampling::new(12).with_seed(seed);
    let first = generate(&model, &vocab, "ab", &sampling(5), &device).unwrap();
    let again = generate(&model, &vocab, "ab", &sampling(5), &device).unwrap();
    assert_eq!(first, again, "the same seed gives the same text");
    assert_eq!(
        first.concat(),
        "cdabcdabcdab",
        "the learned pattern continues"
    );
    let greedy = generate(
        &model,
        &vocab,
        "abc",
        &Sampling::new(5).with_temperature(0.0),
        &device,
    )
    .unwrap();
    assert_eq!(greedy.concat(), "dabcd");

    // Saved and loaded, the model gives the same logits.
    let path = dir.path().join("lm.bpk");
    save_module(&model, &path).unwrap();
    let loaded = load_module(config.init(&Device::flex()), &path).unwrap();
    let input: Tensor<2, Int> = Tensor::from_data(
        TensorData::new(vec![0i64, 1, 2, 3, 0, 1], [2, 3]),
        &Device::flex(),
    );
    let expected = model.valid().forward(input.clone(), None).0.into_data();
    let got = loaded.forward(input, None).0.into_data();
    assert_eq!(max_abs_diff("logits", got, &expected), 0.0);
}

fn run_lm(args: &[&str]) -> std::process::Output {
    std::process::Command::new(example("language_model"))
        .args(args)
        .args(["--backend", "flex", "--progress", "lines"])
        .output()
        .unwrap()
}

fn failure(args: &[&str]) -> String {
    let output = run_lm(args);
    assert!(!output.status.success(), "must fail: {}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn the_program_trains_generates_and_refuses_bad_input_without_overwriting() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.txt");
    fs::write(
        &corpus,
        "the quick brown fox jumps over the lazy dog.\n".repeat(40),
    )
    .unwrap();
    let artifacts = dir.path().join("run");
    let art = artifacts.to_str().unwrap();
    let trained = run_lm(&[
        "--text",
        corpus.to_str().unwrap(),
        "--epochs",
        "2",
        "--hidden",
        "32",
        "--embedding",
        "16",
        "--batch-size",
        "4",
        "--artifacts",
        art,
    ]);
    assert!(trained.status.success(), "{}", text(&trained));
    for file in [
        "config.json",
        "vocab.json",
        "model.bpk",
        "metrics.csv",
        "samples.txt",
        "perplexity.png",
    ] {
        assert!(artifacts.join(file).is_file(), "{file} missing");
    }
    let model_bytes = fs::read(artifacts.join("model.bpk")).unwrap();

    let generated = run_lm(&[
        "--generate",
        "the q",
        "--length",
        "20",
        "--sample-seed",
        "4",
        "--artifacts",
        art,
    ]);
    assert!(generated.status.success(), "{}", text(&generated));
    let again = run_lm(&[
        "--generate",
        "the q",
        "--length",
        "20",
        "--sample-seed",
        "4",
        "--artifacts",
        art,
    ]);
    assert_eq!(
        generated.stdout, again.stdout,
        "generation repeats with its seed"
    );

    // Bad corpora: a sentence, a failure status, and the trained run left as it was.
    let missing = failure(&[
        "--text",
        dir.path().join("none.txt").to_str().unwrap(),
        "--artifacts",
        art,
    ]);
    assert!(
        missing.contains("none.txt") && missing.contains("No such file"),
        "{missing}"
    );
    let empty = dir.path().join("empty.txt");
    fs::write(&empty, "\n \n").unwrap();
    assert!(
        failure(&["--text", empty.to_str().unwrap(), "--artifacts", art])
            .contains("the corpus is empty")
    );
    let binary = dir.path().join("binary.txt");
    fs::write(&binary, [0x61, 0xff, 0xfe, 0x62]).unwrap();
    assert!(
        failure(&["--text", binary.to_str().unwrap(), "--artifacts", art]).contains("not UTF-8")
    );
    let tiny = dir.path().join("tiny.txt");
    fs::write(
        &tiny,
        "a short line of text that is far too short for a batch\n",
    )
    .unwrap();
    let short = failure(&["--text", tiny.to_str().unwrap(), "--artifacts", art]);
    assert!(short.contains("too few for one batch"), "{short}");
    assert_eq!(
        fs::read(artifacts.join("model.bpk")).unwrap(),
        model_bytes,
        "a failed run must not touch the trained one"
    );

    // A vocabulary that does not belong to the model.
    let vocab_path = artifacts.join("vocab.json");
    let mut vocab = Vocabulary::load(&vocab_path).unwrap();
    vocab.tokens.push("extra".into());
    vocab.save(&vocab_path).unwrap();
    let mismatch = failure(&["--generate", "the", "--artifacts", art]);
    assert!(
        mismatch.contains("vocab.json") && mismatch.contains("does not belong to this model"),
        "{mismatch}"
    );

    let flag = run_lm(&["--temperature", "warm"]);
    assert_eq!(flag.status.code(), Some(2));
}

#[test]
fn pre_trained_word_vectors_fill_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = words("the cat sat on the mat");
    let vocab = Vocabulary::build(Tokenizer::Word, &tokens, None, true);
    let path = dir.path().join("vectors.txt");
    fs::write(&path, "3 2\ncat 0.5 -0.25\nmat 1 2\ndog 9 9\n").unwrap();
    let device = Device::flex();
    let (weight, found) =
        burn_lstm_programs::language::read_word_vectors(&path, &vocab, 2, &device).unwrap();
    assert_eq!(found, 2, "cat and mat (dog is not in the vocabulary)");
    let rows: Vec<f32> = weight.into_data().iter::<f32>().collect();
    let row = |word: &str| {
        let i = vocab.index(word).unwrap();
        rows[2 * i..2 * i + 2].to_vec()
    };
    assert_eq!(row("cat"), [0.5, -0.25]);
    assert_eq!(row("mat"), [1.0, 2.0]);
    assert_eq!(row("<pad>"), [0.0, 0.0], "padding stays zero");
    assert!(
        row("the").iter().all(|v| v.abs() <= 0.1),
        "others start small"
    );
    fs::write(&path, "cat 0.5\n").unwrap();
    let message = burn_lstm_programs::language::read_word_vectors(&path, &vocab, 2, &device)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("line 1: expected 2 numbers after `cat`, found 1"),
        "{message}"
    );
}

/// An evaluation that fails stops the training with its reason, instead of a silent default.
#[test]
fn a_failed_evaluation_is_an_error_not_a_default_metric() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex().autodiff();
    let (vocab, tokens) = tiny_corpus();
    let model = LanguageModelConfig::new(vocab.len(), LstmConfig::new(8, 8)).init(&device);
    // Three held-out tokens cannot be read as ten streams.
    let mut task = StreamTask::new(&tokens, Some(tokens[..3].to_vec()), 4, 8, false, &device)
        .unwrap()
        .with_evaluation(10, 50);
    let training = TrainingConfig::new(2, OptimizerConfig::adam(), LrSchedule::constant(1e-2));
    let result = Trainer::new(training, dir.path(), &device)
        .with_progress(ProgressMode::Silent)
        .fit(model, &mut task, false);
    let message = match result {
        Ok(_) => panic!("training went on past a failed evaluation"),
        Err(err) => err.to_string(),
    };
    assert!(
        message.contains("evaluation after epoch 1 failed")
            && message.contains("3 held-out tokens are too few"),
        "{message}"
    );
}

/// The embedding of a run given pre-trained vectors stays frozen when the run is resumed
/// without `--glove`: the configuration remembers it.
#[test]
fn a_resumed_run_keeps_pre_trained_embeddings_frozen() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.txt");
    fs::write(&corpus, "the cat sat on the mat .\n".repeat(30)).unwrap();
    let vectors = dir.path().join("vectors.txt");
    fs::write(
        &vectors,
        "the 0.1 0.2 0.3 0.4\ncat 0.5 0.6 0.7 0.8\nsat -0.1 -0.2 -0.3 -0.4\nmat 1 1 1 1\n",
    )
    .unwrap();
    let artifacts = dir.path().join("run");
    let common = [
        "--text",
        corpus.to_str().unwrap(),
        "--tokenizer",
        "word",
        "--embedding",
        "4",
        "--hidden",
        "8",
        "--batch-size",
        "2",
        "--artifacts",
        artifacts.to_str().unwrap(),
    ];
    let embedding = || {
        let config: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(artifacts.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["frozen_embedding"], true, "the config records it");
        let model: LanguageModelConfig = serde_json::from_value(config["model"].clone()).unwrap();
        let device = Device::flex();
        let model = load_module(model.init(&device), &artifacts.join("model.bpk")).unwrap();
        model.embedding.weight.val().into_data()
    };
    let first = run_lm(
        &[
            &common[..],
            &["--epochs", "1", "--glove", vectors.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(first.status.success(), "{}", text(&first));
    let after_one = embedding();
    let resumed = run_lm(&[&common[..], &["--epochs", "2", "--resume"]].concat());
    assert_succeeded_saying(&resumed, "the embedding is frozen");
    assert_eq!(embedding(), after_one, "the frozen embedding did not train");
}
