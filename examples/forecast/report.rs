//! The backtest's table, `metrics.json`, and the forecast on the terminal.

use std::path::Path;

use burn_lstm::files::write_atomic;
use burn_lstm_programs::Result;
use burn_lstm_programs::forecast::evaluation::Backtest;
use burn_lstm_programs::forecast::inference::Forecast;
use burn_lstm_programs::forecast::{ForecastConfig, Series};
use serde_json::json;

/// Each target's scores, method by method, in the series' units.
pub fn print_backtests(config: &ForecastConfig, backtests: &[Backtest]) {
    for backtest in backtests {
        let name = &config.columns.targets[backtest.target];
        println!(
            "backtest of `{name}` on the test part: {} origins, {} steps each (MASE: against \
             the training part's seasonal naive error, {:.4})",
            backtest.origins.len(),
            config.features.horizon,
            backtest.scale
        );
        println!(
            "  {:<16} {:>12} {:>12} {:>8} {:>7} {:>9}",
            "method", "MAE", "RMSE", "sMAPE %", "MASE", "coverage"
        );
        for method in &backtest.methods {
            let s = &method.scores;
            let coverage = s
                .coverage
                .map_or("–".into(), |c| format!("{:.0}%", 100.0 * c));
            println!(
                "  {:<16} {:>12.4} {:>12.4} {:>8.2} {:>7.3} {:>9}",
                method.name, s.mae, s.rmse, s.smape, s.mase, coverage
            );
        }
    }
}

/// `metrics.json`: the settings, and every method's scores for every target on the test part
/// (`test`) and on the validation part (`validation`: what settings may be chosen by).
pub fn write_metrics(
    path: &Path,
    config: &ForecastConfig,
    series: &Series,
    [validation, test]: [&[Backtest]; 2],
) -> Result<()> {
    let scores = |backtests: &[Backtest]| -> Vec<serde_json::Value> {
        backtests
            .iter()
            .map(|backtest| {
                let methods: Vec<_> = backtest
                    .methods
                    .iter()
                    .map(|m| json!({"method": m.name, "scores": m.scores}))
                    .collect();
                let origins: Vec<String> = backtest
                    .origins
                    .iter()
                    .map(|&o| series.stamps[o].write(series.format))
                    .collect();
                json!({
                    "target": config.columns.targets[backtest.target],
                    "origins": origins,
                    "mase_scale": backtest.scale,
                    "methods": methods,
                })
            })
            .collect()
    };
    let report = json!({
        "csv": config.csv,
        "rows": series.len(),
        "horizon": config.features.horizon,
        "window": config.features.window,
        "season": config.features.season,
        "split": config.split,
        "quantiles": config.model.quantiles,
        "test": scores(test),
        "validation": scores(validation),
    });
    let text = serde_json::to_string_pretty(&report).expect("JSON");
    Ok(write_atomic(path, text.as_bytes())?)
}

/// The first steps of the forecast past the end.
pub fn print_forecast(
    config: &ForecastConfig,
    series: &Series,
    forecast: &Forecast,
    interval: Option<f64>,
) {
    let step = series.step.expect("a series of two rows or more");
    let last = series.stamps[series.len() - 1];
    for (target, name) in config.columns.targets.iter().enumerate() {
        let shown = forecast.point[target].len().min(6);
        let mut steps = Vec::new();
        for h in 0..shown {
            let stamp = last
                .after(step, h as u32 + 1)
                .map_or("?".into(), |s| s.write(series.format));
            let value = forecast.point[target][h];
            steps.push(match (&forecast.lower, &forecast.upper) {
                (Some(lower), Some(upper)) => format!(
                    "{stamp} {value:.4} [{:.4}, {:.4}]",
                    lower[target][h], upper[target][h]
                ),
                _ => format!("{stamp} {value:.4}"),
            });
        }
        let more = forecast.point[target].len() - shown;
        println!(
            "forecast of `{name}`{}: {}{}",
            interval.map_or(String::new(), |p| format!(" (with the {p:.0}% interval)")),
            steps.join("; "),
            if more > 0 {
                format!("; … {more} more in forecast.csv")
            } else {
                String::new()
            }
        );
    }
}
