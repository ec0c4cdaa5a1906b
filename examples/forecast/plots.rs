//! The pictures, on the series' own time axis (ticks written as the file writes its stamps):
//! a series' test part with every method's forecast from its last origin, each method in a
//! colour of its own (`backtest-<series>.png`), and the forecast past the end with its interval
//! (`forecast.png`; `forecast-<series>.png` for each of a collection's first series). A missing
//! font is a warning: everything else is written either way.

use std::path::{Path, PathBuf};

use burn_lstm_programs::Result;
use burn_lstm_programs::forecast::evaluation::Backtest;
use burn_lstm_programs::forecast::inference::Predictor;
use burn_lstm_programs::forecast::stages::Evaluation;
use burn_lstm_programs::forecast::time::{Stamp, StampFormat, Step, axis_tick};
use burn_lstm_programs::forecast::training::Origin;
use burn_lstm_programs::forecast::{Collection, ForecastConfig};
use burn_lstm_programs::plot::{Chart, RGBColor, Series as Line, TickFormat, draw_chart, palette};

/// Series of a collection drawn at most.
const SERIES_DRAWN: usize = 3;

/// Each method's colour: ours first, then the baselines in the order they are listed.
const METHOD_COLORS: [RGBColor; 7] = [
    palette::RED,
    palette::BLUE,
    palette::ORANGE,
    palette::GREEN,
    palette::PURPLE,
    palette::BROWN,
    palette::PINK,
];

pub fn draw(
    config: &ForecastConfig,
    collection: &Collection,
    evaluation: &Evaluation,
    predictor: &Predictor,
    artifacts: &Path,
) {
    let result = (|| -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        for backtest in evaluation.test.iter().take(SERIES_DRAWN) {
            written.push(backtest_plot(config, collection, backtest, artifacts)?);
        }
        for series in 0..collection.series.len().min(SERIES_DRAWN) {
            written.push(forecast_plot(
                config, collection, series, predictor, artifacts,
            )?);
        }
        Ok(written)
    })();
    match result {
        Ok(paths) => paths
            .iter()
            .for_each(|path| println!("  wrote {}", path.display())),
        Err(err) => eprintln!("warning: plots not drawn: {err}"),
    }
}

/// The x axis of series `series`: fractional years for dates (days since its start for steps
/// under a day), the numbers themselves otherwise; its label and its ticks' writing.
struct Axis {
    origin: Stamp,
    step: Step,
    label: String,
    format: StampFormat,
}

impl Axis {
    fn new(collection: &Collection, series: usize) -> Axis {
        let origin = collection.series[series].stamps[0];
        let label = match (origin, collection.step, collection.format) {
            (Stamp::Moment(moment), Step::Seconds(seconds), _) if seconds < 86_400 => {
                format!("days since {}", moment.format("%Y-%m-%d"))
            }
            (Stamp::Moment(_), _, _) => "time".to_string(),
            (_, _, StampFormat::Row) => "row".to_string(),
            _ => "time".to_string(),
        };
        Axis {
            origin,
            step: collection.step,
            label,
            format: collection.format,
        }
    }

    fn x(&self, stamp: &Stamp) -> f64 {
        stamp.axis_value(Some(self.step), &self.origin)
    }

    /// How a tick is written: as the file writes its stamps.
    fn tick_format(&self) -> TickFormat {
        let (origin, step, format) = (self.origin, self.step, self.format);
        Box::new(move |x: &f64| axis_tick(*x, &origin, step, format))
    }
}

/// A file name for a series: its name with anything but letters, digits, `-` and `_` as `_`.
fn file_name(prefix: &str, series: &str) -> String {
    let clean: String = series
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                true => c,
                false => '_',
            },
        )
        .collect();
    format!("{prefix}-{clean}.png")
}

fn backtest_plot(
    config: &ForecastConfig,
    collection: &Collection,
    backtest: &Backtest,
    artifacts: &Path,
) -> Result<PathBuf> {
    let series = &collection.series[backtest.series];
    let axis = Axis::new(collection, backtest.series);
    let horizon = config.features.horizon;
    let origin = *backtest.origins.last().expect("a backtest has origins");
    let from = backtest.origins[0].saturating_sub(2 * horizon);
    let actual = (from..series.len())
        .map(|i| (axis.x(&series.stamps[i]), series.values[i]))
        .collect();
    let mut lines = vec![Line::line("actual", actual, palette::BLACK)];
    let last = backtest.origins.len() - 1;
    for (method, color) in backtest.methods.iter().zip(METHOD_COLORS) {
        let points = (0..horizon)
            .map(|h| {
                (
                    axis.x(&series.stamps[origin + h]),
                    method.forecasts[last].point[h],
                )
            })
            .collect();
        let label = format!("{} (MASE {:.2})", method.name, method.scores.mase);
        lines.push(Line::line(label, points, color));
    }
    let path = artifacts.join(file_name("backtest", &series.name));
    draw_chart(
        &Chart {
            title: format!("{}: test part, forecasts from its last origin", series.name),
            x_label: axis.label.clone(),
            y_label: series.name.clone(),
            log_y: false,
            x_format: Some(axis.tick_format()),
            series: lines,
        },
        &path,
    )?;
    Ok(path)
}

fn forecast_plot(
    config: &ForecastConfig,
    collection: &Collection,
    index: usize,
    predictor: &Predictor,
    artifacts: &Path,
) -> Result<PathBuf> {
    let series = &collection.series[index];
    let axis = Axis::new(collection, index);
    let origin = Origin {
        series: index,
        end: series.len(),
    };
    let forecast = predictor.forecasts(collection, &[origin]).remove(0);
    let last = series.stamps[series.len() - 1];
    let horizon = config.features.horizon;
    let future: Vec<f64> = (1..=horizon)
        .map(|h| axis.x(&last.after(collection.step, h as u32).expect("in range")))
        .collect();
    let from = series
        .len()
        .saturating_sub(4 * horizon.max(config.features.window / 2));
    let history = (from..series.len())
        .map(|i| (axis.x(&series.stamps[i]), series.values[i]))
        .collect();
    let path_of = |values: &Vec<f64>| future.iter().copied().zip(values.iter().copied()).collect();
    let mut lines = vec![
        Line::line("data", history, palette::BLUE),
        Line::line("forecast", path_of(&forecast.point), palette::RED),
    ];
    if let (Some(lower), Some(upper)) = (&forecast.lower, &forecast.upper) {
        let percent = predictor.interval_percent().unwrap_or(80.0);
        lines.push(Line::line(
            format!("{percent:.0}% interval"),
            path_of(lower),
            palette::ORANGE,
        ));
        lines.push(Line::line("", path_of(upper), palette::ORANGE));
    }
    let path = match collection.series.len() {
        1 => artifacts.join("forecast.png"),
        _ => artifacts.join(file_name("forecast", &series.name)),
    };
    draw_chart(
        &Chart {
            title: format!("{}: {horizon}-step forecast past the end", series.name),
            x_label: axis.label.clone(),
            y_label: series.name.clone(),
            log_y: false,
            x_format: Some(axis.tick_format()),
            series: lines,
        },
        &path,
    )?;
    Ok(path)
}
