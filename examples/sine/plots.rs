//! The sine program's pictures: the loss per epoch, the predictions, the seed's window, and
//! an autoregressive forecast. A missing font is a warning: the model is saved either way.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn_lstm_programs::Result;
use burn_lstm_programs::plot::{Chart, Series, draw_chart, palette};
use burn_lstm_programs::sine::SequenceRegressor;
use burn_lstm_programs::sine::{WindowSet, seed_prediction_window};
use burn_lstm_programs::train::EpochRecord;

use crate::recipe::{Recipe, SineConfig, SineData};

/// Draws the pictures (a missing font is a warning: the model is saved either way).
pub fn report_plots(
    config: &SineConfig,
    model: &SequenceRegressor,
    data: &SineData,
    history: &[EpochRecord],
    artifacts: &Path,
    device: &Device,
    horizon: Option<usize>,
) {
    let result = (|| -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        if !history.is_empty() {
            written.push(plot_loss(history, artifacts)?);
        }
        written.push(plot_predictions(config, model, data, artifacts, device)?);
        if config.recipe == Recipe::Keras {
            written.push(plot_seed_prediction(model, artifacts, device)?);
        }
        if let Some(horizon) = horizon {
            written.push(plot_forecast(
                config, model, data, horizon, artifacts, device,
            )?);
        }
        Ok(written)
    })();
    match result {
        Ok(paths) => {
            for path in paths {
                println!("  wrote {}", path.display());
            }
        }
        Err(err) => eprintln!("warning: plots not drawn: {err}"),
    }
}

fn plot_loss(history: &[EpochRecord], artifacts: &Path) -> Result<PathBuf> {
    let train = history
        .iter()
        .map(|r| (r.epoch as f64, r.train_loss))
        .collect();
    let valid = history
        .iter()
        .filter_map(|r| r.valid_loss.map(|v| (r.epoch as f64, v)))
        .collect::<Vec<_>>();
    let mut series = vec![Series::line("training loss (MSE)", train, palette::BLUE)];
    if !valid.is_empty() {
        let mark = if valid.len() < history.len() {
            Series::dots
        } else {
            Series::line
        };
        series.push(mark("validation loss (MSE)", valid, palette::ORANGE));
    }
    let path = artifacts.join("loss.png");
    draw_chart(
        &Chart {
            title: "Training progress".into(),
            x_label: "epoch".into(),
            y_label: "mean squared error".into(),
            log_y: true,
            x_format: None,
            series,
        },
        &path,
    )?;
    Ok(path)
}

/// Predictions of `model` for each window, as plain numbers.
fn predict_windows(model: &SequenceRegressor, windows: &WindowSet, device: &Device) -> Vec<f32> {
    let indices: Vec<usize> = (0..windows.len()).collect();
    let (inputs, _) = windows.tensors(&indices, device);
    model.forward(inputs).into_data().iter::<f32>().collect()
}

/// `prediction.png`: the model's one-step predictions against the truth.
fn plot_predictions(
    config: &SineConfig,
    model: &SequenceRegressor,
    data: &SineData,
    artifacts: &Path,
    device: &Device,
) -> Result<PathBuf> {
    let path = artifacts.join("prediction.png");
    let hidden = config.model.lstm.hidden_size;
    let (title, series) = match &data.series {
        Some(series) => (
            format!(
                "LSTM({hidden}) one-step predictions, {}",
                config.recipe.name()
            ),
            series_predictions(config, model, data, series, device)?,
        ),
        None => (
            format!("LSTM({hidden}): the value after each window, window starts s in [0, 1)"),
            phase_sweep(model, device),
        ),
    };
    draw_chart(
        &Chart {
            title,
            x_label: "t".into(),
            y_label: "value".into(),
            log_y: false,
            x_format: None,
            series,
        },
        &path,
    )?;
    Ok(path)
}

/// The torch recipe: the series, and the prediction after each window, training and
/// validation windows apart.
fn series_predictions(
    config: &SineConfig,
    model: &SequenceRegressor,
    data: &SineData,
    series: &[f32],
    device: &Device,
) -> Result<Vec<Series>> {
    let windows = WindowSet::from_series(series, config.window, Some(data.valid_mask.len()))?;
    let predicted = predict_windows(model, &windows, device);
    let truth = series
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as f64, f64::from(v)))
        .collect();
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for (i, &p) in predicted.iter().enumerate() {
        let point = ((i + config.window) as f64, f64::from(p));
        match data.valid_mask[i] {
            true => valid.push(point),
            false => train.push(point),
        }
    }
    Ok(vec![
        Series::line("truth", truth, palette::GREY),
        Series::dots("prediction (training window)", train, palette::BLUE),
        Series::dots("prediction (validation window)", valid, palette::ORANGE),
    ])
}

/// The Keras recipe's windows start at a phase s in [0, 1) and hold sin(s + 2πj/49), j < 49;
/// the value after them is sin(s + 2π). Sweep s across that range (the part of the wave the
/// recipe trains on) and compare.
fn phase_sweep(model: &SequenceRegressor, device: &Device) -> Vec<Series> {
    let step = 2.0 * std::f64::consts::PI / 49.0;
    let starts: Vec<f64> = (0..100).map(|k| k as f64 / 100.0).collect();
    let inputs: Vec<f32> = starts
        .iter()
        .flat_map(|&s| (0..49).map(move |j| (s + j as f64 * step).sin() as f32))
        .collect();
    let targets: Vec<f32> = starts
        .iter()
        .map(|&s| (s + 49.0 * step).sin() as f32)
        .collect();
    let predicted = predict_windows(model, &WindowSet::new(inputs, targets, 49), device);
    let time = |s: f64| s + 49.0 * step;
    let truth = (0..=150)
        .map(|k| {
            let t = time(-0.25) + k as f64 * 1.5 / 150.0;
            (t, t.sin())
        })
        .collect();
    let points = starts
        .iter()
        .zip(&predicted)
        .map(|(&s, &p)| (time(s), p as f64))
        .collect();
    vec![
        Series::line("sin(t)", truth, palette::GREY),
        Series::dots(
            "prediction from the 49 values before",
            points,
            palette::BLUE,
        ),
    ]
}

/// The seed's picture: the window sin(linspace(0, 2π, 49)), the true next value, and ours.
fn plot_seed_prediction(
    model: &SequenceRegressor,
    artifacts: &Path,
    device: &Device,
) -> Result<PathBuf> {
    let (window, truth) = seed_prediction_window();
    let input = Tensor::<3>::from_data(TensorData::new(window.clone(), [1, 49, 1]), device);
    let predicted: f32 = model.forward(input).into_scalar();
    println!(
        "  seed window: next value {truth:.5}, predicted {predicted:.5} (error {:.2e})",
        (predicted - truth).abs()
    );
    let path = artifacts.join("seed_prediction.png");
    let input_points = window
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as f64, v as f64))
        .collect();
    draw_chart(
        &Chart {
            title: "Next value of sin(linspace(0, 2π, 49))".into(),
            x_label: "step".into(),
            y_label: "value".into(),
            log_y: false,
            x_format: None,
            series: vec![
                Series::line("input window", input_points, palette::BLUE),
                Series::dots("truth", vec![(49.0, truth as f64)], palette::GREEN),
                Series::dots("prediction", vec![(49.0, predicted as f64)], palette::RED),
            ],
        },
        &path,
    )?;
    Ok(path)
}

/// `--horizon N`: feed predictions back for N steps past the data.
fn plot_forecast(
    config: &SineConfig,
    model: &SequenceRegressor,
    data: &SineData,
    horizon: usize,
    artifacts: &Path,
    device: &Device,
) -> Result<PathBuf> {
    let window = config.window;
    // The Keras recipe has no series: forecast sin(t) on its training grid, from phase 0.
    let step = match config.recipe {
        Recipe::Torch => 0.1,
        Recipe::Keras => 2.0 * std::f64::consts::PI / 49.0,
    };
    let start_time = match config.recipe {
        Recipe::Torch => -10.0,
        Recipe::Keras => 0.0,
    };
    let truth = |i: usize| (start_time + step * i as f64).sin();
    let history: Vec<f32> = match &data.series {
        Some(series) => series.clone(),
        None => (0..window).map(|i| truth(i) as f32).collect(),
    };
    let start = history.len();
    let forecast = model.forecast(&history[start - window..], horizon, device);
    let shown_from = start.saturating_sub(3 * window.max(20));
    let past = (shown_from..start).map(|i| (i as f64, f64::from(history[i])));
    let future = (start..start + horizon).map(|i| (i as f64, truth(i)));
    let mut series = vec![
        Series::line("data", past.collect(), palette::BLUE),
        Series::line("truth", future.collect(), palette::GREY),
    ];
    let error = forecast
        .iter()
        .enumerate()
        .map(|(k, &f)| (f64::from(f) - truth(start + k)).powi(2))
        .sum::<f64>()
        / horizon.max(1) as f64;
    println!("  {horizon}-step forecast MSE against the true wave: {error:.3e}");
    series.push(Series::line(
        "forecast (predictions fed back)",
        forecast
            .iter()
            .enumerate()
            .map(|(k, &f)| ((start + k) as f64, f64::from(f)))
            .collect(),
        palette::RED,
    ));
    let path = artifacts.join("forecast.png");
    draw_chart(
        &Chart {
            title: format!("{horizon}-step autoregressive forecast"),
            x_label: "step".into(),
            y_label: "value".into(),
            log_y: false,
            x_format: None,
            series,
        },
        &path,
    )?;
    Ok(path)
}
