//! What the example programs share: the backend and progress flags, choosing the device,
//! the allocator, the artifacts directory's start and end, and turning an error into a
//! sentence and a failure status.
#![allow(dead_code)]

use std::path::Path;
use std::process::ExitCode;

use burn::prelude::*;
use burn_lstm_programs::backend::BackendChoice;
use burn_lstm_programs::train::ProgressMode;
use burn_lstm_programs::train::artifacts::{load_config, set_aside_previous_run};
use burn_lstm_programs::{Error, Result};

/// mimalloc keeps freed memory for reuse; the system allocator returns large blocks to the
/// kernel and pays page faults to get them back, which costs LSTM training up to a third of
/// its time on these machines.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How training shows its progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Progress {
    /// A bar on a terminal, log lines otherwise.
    Auto,
    Bar,
    Lines,
    None,
}

impl Progress {
    pub fn mode(self) -> ProgressMode {
        match self {
            Progress::Auto => ProgressMode::auto(),
            Progress::Bar => ProgressMode::Bar,
            Progress::Lines => ProgressMode::Lines,
            Progress::None => ProgressMode::Silent,
        }
    }
}

/// The flags every training program takes.
#[derive(clap::Args, Debug)]
pub struct RunOptions {
    /// Backend: flex or ndarray (CPU), wgpu (with `--features wgpu`). Default: wgpu when
    /// built with it, else flex.
    #[arg(long, value_parser = parse_backend)]
    pub backend: Option<BackendChoice>,
    /// Progress display.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: Progress,
}

fn parse_backend(name: &str) -> std::result::Result<BackendChoice, String> {
    let choice: BackendChoice = name.parse()?;
    match BackendChoice::compiled().contains(&choice) {
        true => Ok(choice),
        false => Err(format!(
            "`{name}` is not compiled in; rebuild with `--features {name}`"
        )),
    }
}

/// The chosen (or default) backend's device. Call it first in `main`: it also points burn's
/// default device, which burn's optimizer-state loader asks for, at the chosen backend.
pub fn start_device(choice: Option<BackendChoice>) -> Result<(BackendChoice, Device)> {
    let backend = match choice {
        Some(choice) => choice,
        None => BackendChoice::default_compiled()?,
    };
    // SAFETY: called at the start of `main`, before any other thread exists.
    unsafe { std::env::set_var("BURN_DEVICE", backend.name()) };
    Ok((backend, backend.device()?))
}

/// Makes room for a new run in `artifacts`: unless the run resumes, an earlier one there is
/// moved aside (never deleted) and the user is told where.
pub fn make_room_for_run(artifacts: &Path, resume: bool) -> Result<()> {
    if !resume && let Some(previous) = set_aside_previous_run(artifacts)? {
        println!(
            "an earlier run in {} was moved to {}",
            artifacts.display(),
            previous.display()
        );
    }
    Ok(())
}

/// The configuration a trained run saved in `artifacts`, or an error that says to train one
/// first (`how` says how).
pub fn trained_config<C: burn::config::Config>(artifacts: &Path, how: &str) -> Result<C> {
    let path = artifacts.join("config.json");
    if !path.exists() {
        return Err(Error::Training(format!(
            "no trained model in {} ({} is missing); train one first{how}",
            artifacts.display(),
            path.display()
        )));
    }
    load_config(&path)
}

/// Success, or the error as one sentence on standard error and a failure status.
pub fn exit_with(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
