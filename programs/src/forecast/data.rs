//! A person's series from a CSV file: the target columns, covariate columns and the time
//! column, checked (order, duplicates, gaps, numbers) with errors that name row and column.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::time::{Stamp, StampFormat, Step, step_between};
use crate::error::{Error, Result};

/// Which columns to read, and what to do with missing time steps.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Columns {
    /// The series to forecast (one or more).
    pub targets: Vec<String>,
    /// The time column; none: the rows are consecutive steps.
    pub time: Option<String>,
    /// Series read as extra inputs (their past values only; no future values are needed).
    pub covariates: Vec<String>,
    /// Missing time steps: refused (`None`), interpolated, or kept as consecutive rows.
    pub fill: Option<Fill>,
}

/// What to do with time steps missing from the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fill {
    /// Insert the missing steps, each value on the straight line between its neighbours.
    Linear,
    /// Use the rows as they are, as consecutive steps.
    None,
}

/// A series read and checked: every column as numbers, in time order.
#[derive(Clone, Debug)]
pub struct Series {
    /// One stamp per row.
    pub stamps: Vec<Stamp>,
    /// How the file wrote them (new ones are written alike).
    pub format: StampFormat,
    /// The regular step between rows (`None` for a single row).
    pub step: Option<Step>,
    /// `[target][row]`
    pub targets: Vec<Vec<f64>>,
    /// `[covariate][row]`
    pub covariates: Vec<Vec<f64>>,
    /// What was done to the file on the way, for a person (sorted, gaps filled, …).
    pub notes: Vec<String>,
}

impl Series {
    /// Rows.
    pub fn len(&self) -> usize {
        self.stamps.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.stamps.is_empty()
    }

    /// Reads `columns` of the CSV file at `path`.
    ///
    /// # Errors
    /// One sentence for each way a file can be unusable: empty, no data rows, a column that
    /// does not exist, an empty or non-numeric cell (row and column named), time stamps that
    /// do not parse, are out of order or repeat, irregular steps, missing steps without
    /// `fill`, a constant target.
    pub fn read(path: &Path, columns: &Columns) -> Result<Series> {
        let table = Table::read(path)?;
        let column = |name: &str| table.column(path, name);
        let numbers = |name: &String| -> Result<Vec<f64>> {
            let index = column(name)?;
            (0..table.rows.len())
                .map(|row| table.number(path, row, index))
                .collect()
        };
        let targets = columns
            .targets
            .iter()
            .map(numbers)
            .collect::<Result<Vec<_>>>()?;
        let covariates = columns
            .covariates
            .iter()
            .map(numbers)
            .collect::<Result<Vec<_>>>()?;
        let (stamps, format) = match &columns.time {
            Some(name) => table.stamps(path, column(name)?)?,
            None => (
                (0..table.rows.len())
                    .map(|i| Stamp::Number(i as f64))
                    .collect(),
                StampFormat::Row,
            ),
        };
        let mut series = Series {
            stamps,
            format,
            step: None,
            targets,
            covariates,
            notes: Vec::new(),
        };
        series.put_in_order(path, &table)?;
        series.regular_steps(path, columns.fill)?;
        for (name, values) in columns.targets.iter().zip(&series.targets) {
            if values.iter().all(|&v| v == values[0]) {
                return Err(Error::format(
                    path,
                    format!(
                        "column `{name}` holds one value ({}) in every row: there is nothing \
                         to forecast but that value",
                        values[0]
                    ),
                ));
            }
        }
        Ok(series)
    }

    /// Newest-first files are turned around (with a note); any other disorder, or a repeated
    /// stamp, is an error naming the rows.
    fn put_in_order(&mut self, path: &Path, table: &Table) -> Result<()> {
        let stamps = &self.stamps;
        let descending = stamps.len() > 1 && stamps.windows(2).all(|pair| pair[0] > pair[1]);
        if descending {
            self.stamps.reverse();
            self.targets.iter_mut().for_each(|column| column.reverse());
            self.covariates
                .iter_mut()
                .for_each(|column| column.reverse());
            self.notes
                .push("the file runs newest first: its rows were put in time order".into());
            return Ok(());
        }
        for (row, pair) in stamps.windows(2).enumerate() {
            let (line, next) = (table.line(row), table.line(row + 1));
            if pair[0] == pair[1] {
                return Err(Error::format(
                    path,
                    format!(
                        "lines {line} and {next} have the same time stamp ({}): each time may \
                         appear once",
                        pair[0].write(self.format)
                    ),
                ));
            }
            if pair[0] > pair[1] {
                return Err(Error::format(
                    path,
                    format!(
                        "the time column is not in order: line {next} ({}) comes before line \
                         {line} ({}); sort the file by time",
                        pair[1].write(self.format),
                        pair[0].write(self.format)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Finds the regular step (the most common one), refuses irregular ones, and reports
    /// missing steps: refused without `fill`, interpolated, or kept.
    fn regular_steps(&mut self, path: &Path, fill: Option<Fill>) -> Result<()> {
        if self.len() < 2 {
            return Err(Error::format(
                path,
                format!("{} data row(s): a series needs at least two", self.len()),
            ));
        }
        let steps: Vec<Step> = self
            .stamps
            .windows(2)
            .filter_map(|pair| step_between(&pair[0], &pair[1]))
            .collect();
        let step = most_common(&steps);
        let mut gaps = Vec::new();
        for (row, between) in steps.iter().enumerate() {
            match step.count_in(between) {
                Some(1) => {}
                Some(count) => gaps.push((row, count - 1)),
                None => {
                    return Err(Error::format(
                        path,
                        format!(
                            "irregular time steps: {} after {} (the usual step is {})",
                            self.stamps[row + 1].write(self.format),
                            self.stamps[row].write(self.format),
                            step.describe()
                        ),
                    ));
                }
            }
        }
        self.step = Some(step);
        if gaps.is_empty() {
            return Ok(());
        }
        let missing: u32 = gaps.iter().map(|&(_, count)| count).sum();
        let first = self.stamps[gaps[0].0].write(self.format);
        let report = format!(
            "{missing} missing time step(s) in {} gap(s), the first after {first}",
            gaps.len()
        );
        match fill {
            None => Err(Error::format(
                path,
                format!(
                    "{report}: pass --fill linear to interpolate them, or --fill none to use \
                     the rows as consecutive steps"
                ),
            )),
            Some(Fill::None) => {
                self.notes
                    .push(format!("{report}; the rows are used as consecutive steps"));
                Ok(())
            }
            Some(Fill::Linear) => {
                self.fill_linear(&gaps, step);
                self.notes
                    .push(format!("{report}; filled by linear interpolation"));
                Ok(())
            }
        }
    }

    /// Inserts the missing steps of `gaps` (`(row before the gap, steps missing)`).
    fn fill_linear(&mut self, gaps: &[(usize, u32)], step: Step) {
        let mut stamps = Vec::new();
        let mut columns: Vec<Vec<f64>> =
            vec![Vec::new(); self.targets.len() + self.covariates.len()];
        let sources: Vec<&Vec<f64>> = self.targets.iter().chain(&self.covariates).collect();
        let mut gaps = gaps.iter().peekable();
        for row in 0..self.len() {
            stamps.push(self.stamps[row]);
            for (column, source) in columns.iter_mut().zip(&sources) {
                column.push(source[row]);
            }
            if let Some(&&(at, missing)) = gaps.peek()
                && at == row
            {
                gaps.next();
                for k in 1..=missing {
                    let share = f64::from(k) / f64::from(missing + 1);
                    stamps.push(self.stamps[row].after(step, k).expect("a stamp in range"));
                    for (column, source) in columns.iter_mut().zip(&sources) {
                        column.push(source[row] + share * (source[row + 1] - source[row]));
                    }
                }
            }
        }
        self.stamps = stamps;
        self.covariates = columns.split_off(self.targets.len());
        self.targets = columns;
    }
}

/// The most frequent of `steps` (the first such, on a tie).
fn most_common(steps: &[Step]) -> Step {
    let mut best = (steps[0], 0);
    for step in steps {
        let count = steps.iter().filter(|other| *other == step).count();
        if count > best.1 {
            best = (*step, count);
        }
    }
    best.0
}

/// A CSV file's header and rows, as text.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn read(path: &Path) -> Result<Table> {
        let bytes = std::fs::read(path).map_err(|err| Error::io(path, err))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::format(path, "not a UTF-8 text file (is it a CSV file?)"))?;
        if text.trim().is_empty() {
            return Err(Error::format(path, "the file is empty"));
        }
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .map_err(|err| Error::format(path, format!("cannot read the header: {err}")))?
            .iter()
            .map(|name| name.trim().to_string())
            .collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|err| Error::format(path, format!("{err}")))?;
            rows.push(record.iter().map(str::to_string).collect());
        }
        if rows.is_empty() {
            return Err(Error::format(
                path,
                "the file has a header but no data rows",
            ));
        }
        Ok(Table { header, rows })
    }

    /// The file's line number of data row `row` (the header is line 1).
    fn line(&self, row: usize) -> usize {
        row + 2
    }

    fn column(&self, path: &Path, name: &str) -> Result<usize> {
        self.header
            .iter()
            .position(|column| column == name)
            .ok_or_else(|| {
                Error::format(
                    path,
                    format!(
                        "no column `{name}` (the file has: {})",
                        self.header.join(", ")
                    ),
                )
            })
    }

    fn cell(&self, row: usize, column: usize) -> &str {
        self.rows[row].get(column).map_or("", |cell| cell.trim())
    }

    fn number(&self, path: &Path, row: usize, column: usize) -> Result<f64> {
        let (cell, line, name) = (self.cell(row, column), self.line(row), &self.header[column]);
        if cell.is_empty() {
            return Err(Error::format(
                path,
                format!("line {line}, column `{name}`: the cell is empty (a gap in the series)"),
            ));
        }
        match cell.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(value),
            _ => Err(Error::format(
                path,
                format!("line {line}, column `{name}`: `{cell}` is not a number"),
            )),
        }
    }

    /// The time column's stamps, all of one kind.
    fn stamps(&self, path: &Path, column: usize) -> Result<(Vec<Stamp>, StampFormat)> {
        let name = &self.header[column];
        let mut stamps = Vec::with_capacity(self.rows.len());
        let mut format = None;
        for row in 0..self.rows.len() {
            let (cell, line) = (self.cell(row, column), self.line(row));
            let Some((stamp, kind)) = Stamp::parse(cell) else {
                return Err(Error::format(
                    path,
                    format!(
                        "line {line}, column `{name}`: `{cell}` is not a date, a date and time, \
                         or a number"
                    ),
                ));
            };
            match format {
                None => format = Some(kind),
                Some(first) if first != kind => {
                    return Err(Error::format(
                        path,
                        format!(
                            "line {line}, column `{name}`: `{cell}` is written unlike the rows \
                             before it"
                        ),
                    ));
                }
                Some(_) => {}
            }
            stamps.push(stamp);
        }
        Ok((stamps, format.unwrap_or(StampFormat::Number)))
    }
}
