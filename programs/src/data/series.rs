//! A user's univariate series from a CSV file.

use std::path::Path;

use burn::prelude::*;

use crate::error::{Error, Result};
use burn_lstm::files::read_text;

/// Reads the column `column` (by header name) of the CSV file at `path` as numbers.
///
/// # Errors
/// A missing or unreadable file, a file that is not UTF-8 CSV, an unknown column (the error
/// lists the available ones), an empty column, or a cell that is not a finite number (the
/// error gives its line and content).
pub fn read_csv_column(path: &Path, column: &str) -> Result<Vec<f64>> {
    let text = read_text(path)?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|err| Error::format(path, format!("cannot read the header row: {err}")))?
        .clone();
    let index = headers
        .iter()
        .position(|h| h.trim() == column)
        .ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "no column `{column}`; the columns are: {}",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
    let mut values = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let line = row + 2;
        let record = record.map_err(|err| Error::format(path, format!("line {line}: {err}")))?;
        let cell = record.get(index).unwrap_or("").trim();
        let value: f64 = cell.parse().map_err(|_| {
            Error::format(
                path,
                format!("line {line}, column `{column}`: `{cell}` is not a number"),
            )
        })?;
        if !value.is_finite() {
            return Err(Error::format(
                path,
                format!("line {line}, column `{column}`: `{cell}` is not a finite number"),
            ));
        }
        values.push(value);
    }
    if values.is_empty() {
        return Err(Error::format(
            path,
            format!("column `{column}` has no values"),
        ));
    }
    Ok(values)
}

/// Standardisation of a series (`(x - mean) / std`), kept with the model so predictions can be
/// mapped back.
#[derive(Config, Debug, PartialEq)]
pub struct Scaler {
    /// Mean of the training part of the series.
    pub mean: f64,
    /// Standard deviation of the training part (1 where the series is constant).
    pub std: f64,
}

impl Scaler {
    /// The scaler that leaves values unchanged.
    pub fn identity() -> Self {
        Self::new(0.0, 1.0)
    }

    /// Fits mean and standard deviation on `values`.
    pub fn fit(values: &[f64]) -> Self {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let std = if var > 0.0 { var.sqrt() } else { 1.0 };
        Self::new(mean, std)
    }

    /// Scales a value.
    pub fn scale(&self, value: f64) -> f32 {
        ((value - self.mean) / self.std) as f32
    }

    /// Maps a scaled value back.
    pub fn unscale(&self, value: f32) -> f64 {
        value as f64 * self.std + self.mean
    }
}
