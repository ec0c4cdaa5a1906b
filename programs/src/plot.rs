//! Line charts as PNG files (plotters), for the training programs' artifacts.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;
/// A colour (plotters').
pub use plotters::style::RGBColor;

use crate::error::{Error, Result};

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// A line through the points.
    Line,
    /// A small circle at each point.
    Dots,
}

/// One labelled series of a chart.
pub struct Series {
    /// Legend text.
    pub label: String,
    /// `(x, y)` points.
    pub points: Vec<(f64, f64)>,
    /// Colour.
    pub color: RGBColor,
    /// Line or dots.
    pub mark: Mark,
}

impl Series {
    /// A line series.
    pub fn line(label: impl Into<String>, points: Vec<(f64, f64)>, color: RGBColor) -> Self {
        Self {
            label: label.into(),
            points,
            color,
            mark: Mark::Line,
        }
    }

    /// A dotted series.
    pub fn dots(label: impl Into<String>, points: Vec<(f64, f64)>, color: RGBColor) -> Self {
        Self {
            label: label.into(),
            points,
            color,
            mark: Mark::Dots,
        }
    }
}

/// A chart: title, axis labels and series.
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// A logarithmic y axis (for losses).
    pub log_y: bool,
    /// How the x axis' ticks are written (`None`: as numbers).
    pub x_format: Option<TickFormat>,
    /// The series, drawn in order.
    pub series: Vec<Series>,
}

/// How an axis' tick at a position is written.
pub type TickFormat = Box<dyn Fn(&f64) -> String>;

/// Colours that read well together.
pub mod palette {
    use plotters::style::RGBColor;
    /// Blue.
    pub const BLUE: RGBColor = RGBColor(31, 119, 180);
    /// Orange.
    pub const ORANGE: RGBColor = RGBColor(255, 127, 14);
    /// Green.
    pub const GREEN: RGBColor = RGBColor(44, 160, 44);
    /// Red.
    pub const RED: RGBColor = RGBColor(214, 39, 40);
    /// Grey.
    pub const GREY: RGBColor = RGBColor(127, 127, 127);
    /// Purple.
    pub const PURPLE: RGBColor = RGBColor(148, 103, 189);
    /// Brown.
    pub const BROWN: RGBColor = RGBColor(140, 86, 75);
    /// Pink.
    pub const PINK: RGBColor = RGBColor(227, 119, 194);
    /// Olive.
    pub const OLIVE: RGBColor = RGBColor(188, 189, 34);
    /// Cyan.
    pub const CYAN: RGBColor = RGBColor(23, 190, 207);
    /// Black.
    pub const BLACK: RGBColor = RGBColor(0, 0, 0);
}

fn font_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::env::var_os("BURN_LSTM_FONT")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    paths.extend(
        [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
            "/System/Library/Fonts/Supplemental/Arial.ttf",
            "C:\\Windows\\Fonts\\arial.ttf",
        ]
        .map(PathBuf::from),
    );
    paths
}

/// Registers a TrueType font for chart text, once per process.
fn ensure_font() -> Result<()> {
    static FONT: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        for path in font_paths() {
            if let Ok(bytes) = std::fs::read(&path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(
            "no TrueType font found for chart text (install fonts-dejavu-core, \
             or set BURN_LSTM_FONT to a .ttf file)"
                .to_string(),
        )
    })
    .clone()
    .map_err(Error::Training)
}

/// Draws `chart` into a 1000×600 PNG at `path`, written atomically.
pub fn draw_chart(chart: &Chart, path: &Path) -> Result<()> {
    ensure_font()?;
    let points = chart.series.iter().flat_map(|s| s.points.iter());
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        if !x.is_finite() || !y.is_finite() || (chart.log_y && y <= 0.0) {
            continue;
        }
        (x_min, x_max, y_min, y_max) = (x_min.min(x), x_max.max(x), y_min.min(y), y_max.max(y));
    }
    if x_min > x_max {
        return Err(Error::format(path, "nothing to plot"));
    }
    if x_min == x_max {
        (x_min, x_max) = (x_min - 0.5, x_max + 0.5);
    }
    // A margin so that points on the edge are not cut.
    let x_margin = (x_max - x_min) * 0.02;
    (x_min, x_max) = (x_min - x_margin, x_max + x_margin);
    if y_min == y_max {
        (y_min, y_max) = (
            y_min - 0.5 * y_min.abs().max(1e-3),
            y_max + 0.5 * y_max.abs().max(1e-3),
        );
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let partial = path.with_file_name(format!("{stem}.partial.png"));
    let draw_error = |err: String| Error::format(path, format!("cannot draw the chart: {err}"));
    {
        let root = BitMapBackend::new(&partial, (1000, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_error(e.to_string()))?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(&chart.title, ("sans-serif", 26))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(80);
        if chart.log_y {
            let y_range = (y_min * 0.8..y_max * 1.25).log_scale();
            let mut ctx = builder
                .build_cartesian_2d(x_min..x_max, y_range)
                .map_err(|e| draw_error(e.to_string()))?;
            ctx.configure_mesh()
                .x_desc(&chart.x_label)
                .y_desc(&chart.y_label)
                .y_label_formatter(&|y| format!("{y:.0e}"))
                .label_style(("sans-serif", 16))
                .draw()
                .map_err(|e| draw_error(e.to_string()))?;
            draw_series(&mut ctx, &chart.series, |y| y > 0.0).map_err(draw_error)?;
        } else {
            let pad = (y_max - y_min) * 0.08;
            let mut ctx = builder
                .build_cartesian_2d(x_min..x_max, y_min - pad..y_max + pad)
                .map_err(|e| draw_error(e.to_string()))?;
            let mut mesh = ctx.configure_mesh();
            mesh.x_desc(&chart.x_label)
                .y_desc(&chart.y_label)
                .label_style(("sans-serif", 16));
            if let Some(format) = &chart.x_format {
                mesh.x_label_formatter(format.as_ref());
            }
            mesh.draw().map_err(|e| draw_error(e.to_string()))?;
            draw_series(&mut ctx, &chart.series, |_| true).map_err(draw_error)?;
        }
        root.present().map_err(|e| draw_error(e.to_string()))?;
    }
    std::fs::rename(&partial, path).map_err(|err| Error::io(path, err))
}

fn draw_series<'a, X, Y>(
    ctx: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    series: &[Series],
    keep: impl Fn(f64) -> bool,
) -> std::result::Result<(), String>
where
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    for s in series {
        let color = s.color;
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|&(x, y)| x.is_finite() && y.is_finite() && keep(y))
            .collect();
        let drawn = match s.mark {
            Mark::Line => ctx
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| e.to_string())?,
            Mark::Dots => ctx
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 4, color.filled())),
                )
                .map_err(|e| e.to_string())?,
        };
        drawn.label(s.label.clone()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
        });
    }
    ctx.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(|e| e.to_string())
}
