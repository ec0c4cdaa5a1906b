//! Progress display: a live bar on a terminal, plain log lines otherwise (CI, pipes, files).

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::train::metrics::EpochRecord;

/// How training reports its progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// A progress bar with epoch, losses and time left.
    Bar,
    /// A line per logged epoch (and a few per long epoch).
    Lines,
    /// Nothing.
    Silent,
}

impl ProgressMode {
    /// A bar when standard output is a terminal, lines otherwise.
    pub fn auto() -> Self {
        if std::io::stdout().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Lines
        }
    }
}

/// Formats a loss for a person: the task's own rendering (e.g. perplexity) or scientific.
pub type LossFormatter = fn(f64) -> String;

pub(crate) struct Progress {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    total_epochs: usize,
    format_loss: LossFormatter,
    item_name: &'static str,
    epoch: usize,
    batches: usize,
    epoch_start: Instant,
    items: usize,
    loss_sum: f64,
    loss_items: usize,
    next_line_at: usize,
    last_valid: Option<f64>,
    started: Instant,
}

impl Progress {
    pub(crate) fn new(
        mode: ProgressMode,
        total_epochs: usize,
        format_loss: LossFormatter,
        item_name: &'static str,
    ) -> Self {
        Self {
            mode,
            bar: None,
            total_epochs,
            format_loss,
            item_name,
            epoch: 0,
            batches: 0,
            epoch_start: Instant::now(),
            items: 0,
            loss_sum: 0.0,
            loss_items: 0,
            next_line_at: usize::MAX,
            last_valid: None,
            started: Instant::now(),
        }
    }

    /// Prints a line without breaking the bar.
    pub(crate) fn println(&self, line: &str) {
        match (&self.bar, self.mode) {
            (_, ProgressMode::Silent) => {}
            (Some(bar), _) => bar.println(line),
            (None, _) => println!("{line}"),
        }
    }

    pub(crate) fn start_epoch(&mut self, epoch: usize, batches: usize) {
        self.epoch = epoch;
        self.batches = batches;
        self.epoch_start = Instant::now();
        self.items = 0;
        self.loss_sum = 0.0;
        self.loss_items = 0;
        // Long epochs get four progress lines in line mode, so a log shows the run is alive.
        self.next_line_at = if batches >= 200 {
            batches / 4
        } else {
            usize::MAX
        };
        if self.mode == ProgressMode::Bar && self.bar.is_none() {
            let remaining = (self.total_epochs - epoch) as u64 * batches as u64;
            let bar = ProgressBar::with_draw_target(Some(remaining), ProgressDrawTarget::stdout());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {percent:>3}% {msg} (ETA {eta})",
                )
                .expect("valid progress template"),
            );
            self.bar = Some(bar);
        }
    }

    pub(crate) fn batch_done(&mut self, batch: usize, loss: f64, items: usize) {
        self.items += items;
        self.loss_sum += loss * items as f64;
        self.loss_items += items;
        let mean = self.loss_sum / self.loss_items.max(1) as f64;
        let seconds = self.epoch_start.elapsed().as_secs_f64().max(1e-9);
        let rate = self.items as f64 / seconds;
        match self.mode {
            ProgressMode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                    let valid = self
                        .last_valid
                        .map(|v| format!(" valid {}", (self.format_loss)(v)))
                        .unwrap_or_default();
                    bar.set_message(format!(
                        "epoch {}/{} train {}{valid} {rate:.0} {}/s",
                        self.epoch + 1,
                        self.total_epochs,
                        (self.format_loss)(mean),
                        self.item_name,
                    ));
                }
            }
            ProgressMode::Lines if batch + 1 >= self.next_line_at && batch + 1 < self.batches => {
                println!(
                    "epoch {}/{}: batch {}/{} train {} ({rate:.0} {}/s)",
                    self.epoch + 1,
                    self.total_epochs,
                    batch + 1,
                    self.batches,
                    (self.format_loss)(mean),
                    self.item_name
                );
                self.next_line_at += self.batches / 4;
            }
            _ => {}
        }
    }

    pub(crate) fn epoch_done(&mut self, record: &EpochRecord, log: bool) {
        if record.valid_loss.is_some() {
            self.last_valid = record.valid_loss;
        }
        if !log || self.mode == ProgressMode::Silent {
            return;
        }
        let mut line = format!(
            "epoch {:>width$}/{}  train {}",
            record.epoch,
            self.total_epochs,
            (self.format_loss)(record.train_loss),
            width = self.total_epochs.to_string().len()
        );
        if let Some(valid) = record.valid_loss {
            line += &format!("  valid {}", (self.format_loss)(valid));
        }
        for (name, value) in &record.extra {
            line += &format!("  {name} {}", format_metric(*value));
        }
        line += &format!(
            "  lr {}  ({:.2} s; {:.1} s in all)",
            record.learning_rate,
            record.seconds,
            self.started.elapsed().as_secs_f64()
        );
        self.println(&line);
    }

    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// A metric for a log line: plain for ordinary magnitudes, scientific for tiny or huge ones.
fn format_metric(value: f64) -> String {
    if value != 0.0 && !(1e-2..1e5).contains(&value.abs()) {
        format!("{value:.3e}")
    } else {
        format!("{value:.4}")
    }
}
