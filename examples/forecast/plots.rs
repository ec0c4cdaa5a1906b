//! The pictures, on the series' own time axis: the test part with every method's forecast
//! from the last origin (`backtest.png`), and the forecast past the end with its interval
//! (`forecast.png`). A missing font is a warning: everything else is written either way.

use std::path::{Path, PathBuf};

use burn_lstm_programs::Result;
use burn_lstm_programs::forecast::evaluation::Backtest;
use burn_lstm_programs::forecast::inference::Predictor;
use burn_lstm_programs::forecast::time::{Stamp, StampFormat, Step};
use burn_lstm_programs::forecast::{ForecastConfig, Series};
use burn_lstm_programs::plot::{Chart, Series as Line, draw_chart, palette};

pub fn draw(
    config: &ForecastConfig,
    series: &Series,
    backtests: &[Backtest],
    predictor: &Predictor,
    artifacts: &Path,
) {
    let result = (|| -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        for backtest in backtests {
            written.push(backtest_plot(config, series, backtest, artifacts)?);
        }
        written.push(forecast_plot(config, series, predictor, artifacts)?);
        Ok(written)
    })();
    match result {
        Ok(paths) => paths
            .iter()
            .for_each(|path| println!("  wrote {}", path.display())),
        Err(err) => eprintln!("warning: plots not drawn: {err}"),
    }
}

/// The x axis: fractional years for dates (days since the start for steps under a day), the
/// numbers themselves otherwise.
fn axis(series: &Series) -> (impl Fn(&Stamp) -> f64 + '_, String) {
    let origin = series.stamps[0];
    let label = match (origin, series.step, series.format) {
        (Stamp::Moment(moment), Some(Step::Seconds(seconds)), _) if seconds < 86_400 => {
            format!("days since {}", moment.format("%Y-%m-%d"))
        }
        (Stamp::Moment(_), _, _) => "year".to_string(),
        (_, _, StampFormat::Row) => "row".to_string(),
        _ => "time".to_string(),
    };
    let position = move |stamp: &Stamp| stamp.axis_value(series.step, &origin);
    (position, label)
}

fn backtest_plot(
    config: &ForecastConfig,
    series: &Series,
    backtest: &Backtest,
    artifacts: &Path,
) -> Result<PathBuf> {
    let (x, x_label) = axis(series);
    let values = &series.targets[backtest.target];
    let name = &config.columns.targets[backtest.target];
    let horizon = config.features.horizon;
    let origin = *backtest.origins.last().expect("a backtest has origins");
    let from = config.split.valid_end.saturating_sub(2 * horizon);
    let actual = (from..series.len())
        .map(|i| (x(&series.stamps[i]), values[i]))
        .collect();
    let mut lines = vec![Line::line("actual", actual, palette::GREY)];
    let colors = [
        palette::RED,
        palette::BLUE,
        palette::ORANGE,
        palette::GREEN,
        palette::GREY,
    ];
    let last = backtest.origins.len() - 1;
    for (method, color) in backtest.methods.iter().zip(colors) {
        let points = (0..horizon)
            .map(|h| {
                (
                    x(&series.stamps[origin + h]),
                    method.forecasts.point[last][h],
                )
            })
            .collect();
        let label = format!("{} (MASE {:.2})", method.name, method.scores.mase);
        lines.push(Line::line(label, points, color));
    }
    let path = artifacts.join(format!("backtest-{name}.png"));
    draw_chart(
        &Chart {
            title: format!("{name}: test part, forecasts from its last origin"),
            x_label,
            y_label: name.clone(),
            log_y: false,
            series: lines,
        },
        &path,
    )?;
    Ok(path)
}

fn forecast_plot(
    config: &ForecastConfig,
    series: &Series,
    predictor: &Predictor,
    artifacts: &Path,
) -> Result<PathBuf> {
    let (x, x_label) = axis(series);
    let forecast = predictor.forecast(series);
    let step = series.step.expect("two rows or more");
    let last = series.stamps[series.len() - 1];
    let horizon = config.features.horizon;
    let future: Vec<f64> = (1..=horizon)
        .map(|h| x(&last.after(step, h as u32).expect("in range")))
        .collect();
    let name = &config.columns.targets[0];
    let from = series
        .len()
        .saturating_sub(4 * horizon.max(config.features.window / 2));
    let history = (from..series.len())
        .map(|i| (x(&series.stamps[i]), series.targets[0][i]))
        .collect();
    let path_of = |values: &Vec<f64>| future.iter().copied().zip(values.iter().copied()).collect();
    let mut lines = vec![
        Line::line("data", history, palette::BLUE),
        Line::line("forecast", path_of(&forecast.point[0]), palette::RED),
    ];
    if let (Some(lower), Some(upper)) = (&forecast.lower, &forecast.upper) {
        let percent = predictor.interval_percent().unwrap_or(80.0);
        lines.push(Line::line(
            format!("{percent:.0}% interval"),
            path_of(&lower[0]),
            palette::ORANGE,
        ));
        lines.push(Line::line("", path_of(&upper[0]), palette::ORANGE));
    }
    let path = artifacts.join("forecast.png");
    draw_chart(
        &Chart {
            title: format!("{name}: {horizon}-step forecast past the end"),
            x_label,
            y_label: name.clone(),
            log_y: false,
            series: lines,
        },
        &path,
    )?;
    Ok(path)
}
