//! Per-epoch training records and `metrics.csv`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::write_atomic;

/// What one epoch did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (weighted by their items).
    pub train_loss: f64,
    /// Validation loss, where the epoch was evaluated and the task has validation data.
    pub valid_loss: Option<f64>,
    /// Wall-clock seconds of the epoch (training and evaluation).
    pub seconds: f64,
    /// Learning rate used in the epoch.
    pub learning_rate: f64,
    /// The task's own metrics of an evaluated epoch (perplexity, accuracy, …), by name.
    pub extra: Vec<(String, f64)>,
}

/// Writes the records that were evaluated (or all, if `all`) as CSV:
/// `epoch,train_loss,valid_loss,seconds,learning_rate,<extra names…>`.
pub fn write_metrics_csv(records: &[EpochRecord], path: &Path) -> Result<()> {
    let extra_names: Vec<String> = records
        .iter()
        .flat_map(|r| r.extra.iter().map(|(name, _)| name.clone()))
        .fold(Vec::new(), |mut names, name| {
            if !names.contains(&name) {
                names.push(name);
            }
            names
        });
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "epoch",
        "train_loss",
        "valid_loss",
        "seconds",
        "learning_rate",
    ];
    header.extend(extra_names.iter().map(String::as_str));
    let csv_error = |err: csv::Error| Error::format(path, err.to_string());
    writer.write_record(&header).map_err(csv_error)?;
    for record in records {
        let mut row = vec![
            record.epoch.to_string(),
            format!("{:e}", record.train_loss),
            record
                .valid_loss
                .map(|v| format!("{v:e}"))
                .unwrap_or_default(),
            format!("{:.3}", record.seconds),
            format!("{}", record.learning_rate),
        ];
        for name in &extra_names {
            let value = record
                .extra
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| *v);
            row.push(value.map(|v| format!("{v}")).unwrap_or_default());
        }
        writer.write_record(&row).map_err(csv_error)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|err| Error::format(path, err.to_string()))?;
    Ok(write_atomic(path, &bytes)?)
}

/// Reads the `epoch,train_loss,valid_loss` columns of a `metrics.csv`.
pub fn read_metrics_csv(path: &Path) -> Result<Vec<(usize, f64, Option<f64>)>> {
    let text = crate::files::read_text(path)?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (line, row) in reader.records().enumerate() {
        let row = row.map_err(|err| Error::format(path, err.to_string()))?;
        let field = |i: usize| row.get(i).unwrap_or("");
        let bad = |what: &str| Error::format(path, format!("row {}: bad {what}", line + 2));
        let epoch = field(0).parse().map_err(|_| bad("epoch"))?;
        let train = field(1).parse().map_err(|_| bad("train_loss"))?;
        let valid = match field(2) {
            "" => None,
            text => Some(text.parse().map_err(|_| bad("valid_loss"))?),
        };
        rows.push((epoch, train, valid));
    }
    Ok(rows)
}
