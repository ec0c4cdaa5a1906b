//! Load an LSTM trained in PyTorch (or Keras), run a sequence through it, print the outputs,
//! and optionally hand it back to PyTorch.
//!
//! ```text
//! cargo run --release --example import_pytorch -- tests/data/interop/torch_bi2.pt
//! cargo run --release --example import_pytorch -- tests/data/interop/torch_nested.safetensors --prefix encoder.lstm.
//! cargo run --release --example import_pytorch -- tests/data/interop/keras_lstm.npz --keras
//! cargo run --release --example import_pytorch -- model.pt --export back.safetensors
//! ```
//!
//! In PyTorch, `lstm.load_state_dict(safetensors.torch.load_file("back.safetensors"))` takes
//! the exported file as it is.

mod common;

use std::path::PathBuf;
use std::process::ExitCode;

use burn::prelude::*;
use burn_lstm::Result;
use burn_lstm::interop::{load_keras_lstm, load_pytorch_lstm, read_tensors, strip_prefix};
use clap::Parser;

/// Load a PyTorch `nn.LSTM` (state dict `.pt`/`.pth` or `.safetensors`) or a Keras LSTM layer
/// (`.npz`/`.safetensors` with kernel, recurrent_kernel, bias) and run it.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The checkpoint.
    checkpoint: PathBuf,
    /// Key prefix of an LSTM inside a larger model, e.g. `encoder.lstm.`.
    #[arg(long, default_value = "")]
    prefix: String,
    /// The file is a Keras LSTM layer's weights.
    #[arg(long)]
    keras: bool,
    /// Steps of the demonstration sequence.
    #[arg(long, default_value_t = 5)]
    seq: usize,
    /// Rows of the demonstration batch.
    #[arg(long, default_value_t = 2)]
    batch: usize,
    /// Write the LSTM back out as a PyTorch-named safetensors file.
    #[arg(long, value_name = "FILE")]
    export: Option<PathBuf>,
}

fn main() -> ExitCode {
    common::exit_with(run(Args::parse()).map_err(Into::into))
}

fn run(args: Args) -> Result<()> {
    let device = Device::flex();
    let lstm = if args.keras {
        load_keras_lstm(&args.checkpoint, &device)?
    } else {
        load_pytorch_lstm(&args.checkpoint, &args.prefix, &device)?
    };
    println!(
        "loaded {}: LSTM(input {}, hidden {}, layers {}, {}{})",
        args.checkpoint.display(),
        lstm.input_size(),
        lstm.hidden_size(),
        lstm.num_layers(),
        if lstm.num_directions() == 2 {
            "bidirectional"
        } else {
            "unidirectional"
        },
        if lstm.hidden_out() != lstm.hidden_size() {
            format!(", projection {}", lstm.hidden_out())
        } else {
            String::new()
        }
    );
    if !args.keras {
        let tensors = strip_prefix(read_tensors(&args.checkpoint)?, &args.prefix);
        for (name, data) in tensors.iter().filter(|(name, _)| !name.contains('.')) {
            println!("  {name:<24} {:?}", data.shape().as_slice());
        }
    }

    // A deterministic input: row b, step t, feature f is sin(0.7·t + 0.3·f + b).
    let (batch, seq, features) = (args.batch.max(1), args.seq.max(1), lstm.input_size());
    let values: Vec<f32> = (0..batch * seq * features)
        .map(|i| {
            let (b, t, f) = (i / (seq * features), (i / features) % seq, i % features);
            (0.7 * t as f32 + 0.3 * f as f32 + b as f32).sin()
        })
        .collect();
    let input = Tensor::<3>::from_data(TensorData::new(values, [batch, seq, features]), &device);
    let (output, state) = lstm.forward(input, None);
    println!(
        "input [batch {batch}, seq {seq}, features {features}]: x[b, t, f] = sin(0.7t + 0.3f + b)"
    );
    println!("output {:?}:\n{output}", output.dims());
    println!("h_n {:?}:\n{}", state.hidden.dims(), state.hidden);
    println!("c_n {:?}:\n{}", state.cell.dims(), state.cell);

    if let Some(path) = &args.export {
        lstm.save_pytorch_safetensors(path)?;
        println!(
            "wrote {} (PyTorch names: load it with nn.LSTM.load_state_dict)",
            path.display()
        );
    }
    Ok(())
}
