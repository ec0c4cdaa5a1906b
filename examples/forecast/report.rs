//! The backtest's tables, `metrics.json`, and the forecast on the terminal.

use std::path::Path;

use burn_lstm::files::write_atomic;
use burn_lstm_programs::Result;
use burn_lstm_programs::forecast::data::list;
use burn_lstm_programs::forecast::evaluation::{Backtest, summarise};
use burn_lstm_programs::forecast::inference::Forecast;
use burn_lstm_programs::forecast::stages::Evaluation;
use burn_lstm_programs::forecast::{Collection, ForecastConfig, Parts};
use serde_json::json;

/// How the series were cut, for a person: which have test and validation parts, which not.
pub fn describe_parts(collection: &Collection, parts: &[Parts]) {
    if let [only] = parts {
        println!("split by time: {}", only.describe());
        return;
    }
    let names = |f: &dyn Fn(&Parts) -> bool| -> Vec<&str> {
        collection
            .series
            .iter()
            .zip(parts)
            .filter(|(_, p)| f(p))
            .map(|(s, _)| s.name.as_str())
            .collect()
    };
    let both = names(&|p| p.has_test());
    let validation_only = names(&|p| p.has_validation() && !p.has_test());
    let neither = names(&|p| !p.has_validation());
    println!(
        "split by time: {} series with validation and test parts; {} with a validation part \
         only (too short for a test part{}); {} too short for either (they only train{})",
        both.len(),
        validation_only.len(),
        optional_list(&validation_only),
        neither.len(),
        optional_list(&neither),
    );
}

fn optional_list(names: &[&str]) -> String {
    match names.is_empty() {
        true => String::new(),
        false => format!(": {}", list(names)),
    }
}

/// The test part's scores: a single series' per method, a collection's summary.
pub fn print_backtests(collection: &Collection, backtests: &[Backtest], horizon: usize) {
    if backtests.is_empty() {
        println!("no series has a test part: no backtest");
        return;
    }
    if let ([only], 1) = (backtests, collection.series.len()) {
        println!(
            "backtest on the test part: {} origins, {} steps each (MASE: against the training \
             part's seasonal naive error, {:.4})",
            only.origins.len(),
            horizon,
            only.scale
        );
        println!(
            "  {:<16} {:>12} {:>12} {:>8} {:>7} {:>9}",
            "method", "MAE", "RMSE", "sMAPE %", "MASE", "coverage"
        );
        for method in &only.methods {
            let s = &method.scores;
            println!(
                "  {:<16} {:>12.4} {:>12.4} {:>8.2} {:>7.3} {:>9}",
                method.name,
                s.mae,
                s.rmse,
                s.smape,
                s.mase,
                percent(s.coverage)
            );
        }
        return;
    }
    println!(
        "backtest on the test parts of {} series ({} steps from each origin): means over the \
         series",
        backtests.len(),
        horizon
    );
    println!(
        "  {:<16} {:>7} {:>8} {:>7} {:>12} {:>9}",
        "method", "series", "sMAPE %", "MASE", "median MASE", "coverage"
    );
    for summary in summarise(backtests) {
        println!(
            "  {:<16} {:>7} {:>8.2} {:>7.3} {:>12.3} {:>9}",
            summary.method,
            summary.series,
            summary.smape,
            summary.mase,
            summary.median_mase,
            percent(summary.coverage)
        );
    }
}

fn percent(share: Option<f64>) -> String {
    share.map_or("–".into(), |c| format!("{:.0}%", 100.0 * c))
}

/// `metrics.json`: the settings, the summary over the series, and every method's scores for
/// every series on the test parts (`test`) and on the validation parts (`validation`: what
/// settings may be chosen by).
pub fn write_metrics(
    path: &Path,
    config: &ForecastConfig,
    collection: &Collection,
    evaluation: &Evaluation,
) -> Result<()> {
    let scores = |backtests: &[Backtest]| -> Vec<serde_json::Value> {
        backtests
            .iter()
            .map(|backtest| {
                let series = &collection.series[backtest.series];
                let methods: Vec<_> = backtest
                    .methods
                    .iter()
                    .map(|m| json!({"method": m.name, "scores": m.scores}))
                    .collect();
                let origins: Vec<String> = backtest
                    .origins
                    .iter()
                    .map(|&o| series.stamps[o].write(collection.format))
                    .collect();
                json!({
                    "series": series.name,
                    "origins": origins,
                    "mase_scale": backtest.scale,
                    "methods": methods,
                })
            })
            .collect()
    };
    let seasons: Vec<serde_json::Value> = evaluation
        .predictor
        .iter()
        .flat_map(|p| &p.profiles)
        .zip(&collection.series)
        .map(|(profile, series)| {
            json!({
                "series": series.name,
                "rows": series.len(),
                "season": profile.season.length(),
                "evidence": profile.season.describe(),
                "log": profile.log,
            })
        })
        .collect();
    let report = json!({
        "csv": config.csv,
        "series": collection.series.len(),
        "horizon": config.features.horizon,
        "window": config.features.window,
        "quantiles": config.model.quantiles,
        "final_epochs": evaluation.selection.epochs,
        "summary": {
            "test": summarise(&evaluation.test),
            "validation": summarise(&evaluation.validation),
        },
        "seasons": seasons,
        "test": scores(&evaluation.test),
        "validation": scores(&evaluation.validation),
    });
    let text = serde_json::to_string_pretty(&report).expect("JSON");
    Ok(write_atomic(path, text.as_bytes())?)
}

/// The first steps of the forecast past the end, for the first few series.
pub fn print_forecasts(collection: &Collection, forecasts: &[Forecast], interval: Option<f64>) {
    const SERIES_SHOWN: usize = 3;
    for (series, forecast) in collection.series.iter().zip(forecasts).take(SERIES_SHOWN) {
        let last = series.stamps[series.len() - 1];
        let shown = forecast.point.len().min(6);
        let steps: Vec<String> = (0..shown)
            .map(|h| {
                let stamp = last
                    .after(collection.step, h as u32 + 1)
                    .map_or("?".into(), |s| s.write(collection.format));
                let value = forecast.point[h];
                match (&forecast.lower, &forecast.upper) {
                    (Some(lower), Some(upper)) => {
                        format!("{stamp} {value:.4} [{:.4}, {:.4}]", lower[h], upper[h])
                    }
                    _ => format!("{stamp} {value:.4}"),
                }
            })
            .collect();
        let more = forecast.point.len() - shown;
        println!(
            "forecast of `{}`{}: {}{}",
            series.name,
            interval.map_or(String::new(), |p| format!(" (with the {p:.0}% interval)")),
            steps.join("; "),
            if more > 0 {
                format!("; … {more} more in forecast.csv")
            } else {
                String::new()
            }
        );
    }
    if collection.series.len() > SERIES_SHOWN {
        println!(
            "… and {} more series in forecast.csv",
            collection.series.len() - SERIES_SHOWN
        );
    }
}
