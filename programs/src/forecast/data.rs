//! A person's series from CSV files: one series or many — several target columns of one
//! file (wide), one row per series and time step with an id column (long), or a folder of
//! files — each checked (order, repeated stamps, gaps, numbers) with errors that name the
//! series, the line and the column.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::time::{Stamp, StampFormat, Step, step_between};
use crate::error::{Error, Result};

/// Which columns to read, and what to do with missing time steps.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Columns {
    /// The column(s) to forecast: each is a series of its own (per id, with `id`).
    pub targets: Vec<String>,
    /// The time column; none: the rows are consecutive steps.
    pub time: Option<String>,
    /// The column naming each row's series (a long file: one row per series and time).
    #[serde(default)]
    pub id: Option<String>,
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

/// How the series were laid out in the input, so that `forecast.csv` is laid out alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// One file, one column per series, one row per time step.
    Wide,
    /// One file, one row per series and time step, the series named by the id column.
    Long,
    /// A folder of files, one series (or one per target column) each.
    Folder,
}

/// One series, checked: its values in time order at a regular step.
#[derive(Clone, Debug)]
pub struct Series {
    /// Its name: the target column's, the id's, or the file's (with the target's when a
    /// file or id holds several targets: `id/target`).
    pub name: String,
    /// One stamp per row.
    pub stamps: Vec<Stamp>,
    /// The values to forecast.
    pub values: Vec<f64>,
    /// `[covariate][row]`
    pub covariates: Vec<Vec<f64>>,
}

impl Series {
    /// Rows.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Every series of a run: one frequency, one way of writing time.
#[derive(Clone, Debug)]
pub struct Collection {
    /// The series, in the order the input first names them.
    pub series: Vec<Series>,
    /// How the stamps were written (new ones are written alike).
    pub format: StampFormat,
    /// The regular step between rows, the same for every series.
    pub step: Step,
    /// How the input was laid out.
    pub layout: Layout,
    /// What was done to the input on the way, for a person (sorted, gaps filled, …).
    pub notes: Vec<String>,
}

impl Collection {
    /// Reads `columns` of the CSV file at `path`, or of every `.csv` file of the folder at
    /// `path`.
    ///
    /// # Errors
    /// One sentence for each way an input can be unusable: an empty file, no data rows, a
    /// column that does not exist, an empty or non-numeric cell (row and column named), time
    /// stamps that do not parse, are out of order or repeat (within a series), irregular
    /// steps, missing steps without `fill`, series of different frequencies, an id column
    /// that gives a series a single row, a single series that holds one value throughout.
    pub fn read(path: &Path, columns: &Columns) -> Result<Collection> {
        let mut collection = match path.is_dir() {
            true => Self::read_folder(path, columns)?,
            false => {
                let table = Table::read(path)?;
                let layout = match columns.id {
                    Some(_) => Layout::Long,
                    None => Layout::Wide,
                };
                let raws = table.series(path, columns)?;
                Self::checked(path, raws, columns, layout)?
            }
        };
        if let [only] = &collection.series[..]
            && only.values.iter().all(|&v| v == only.values[0])
        {
            return Err(Error::format(
                path,
                format!(
                    "column `{}` holds one value ({}) in every row: there is nothing to \
                     forecast but that value",
                    columns.targets[0], only.values[0]
                ),
            ));
        }
        let constant: Vec<&str> = collection
            .series
            .iter()
            .filter(|s| s.values.iter().all(|&v| v == s.values[0]))
            .map(|s| s.name.as_str())
            .collect();
        if !constant.is_empty() {
            let note = format!(
                "{} series hold one value throughout ({}): their forecast is that value",
                constant.len(),
                list(&constant)
            );
            collection.notes.push(note);
        }
        Ok(collection)
    }

    /// Every `.csv` file of the folder `dir`, in name order, each a series (one per target).
    fn read_folder(dir: &Path, columns: &Columns) -> Result<Collection> {
        if columns.id.is_some() {
            return Err(Error::Config(
                "--id names the series of one long file; a folder's files are its series \
                 already (drop --id, or give the file)"
                    .into(),
            ));
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|err| Error::io(dir, err))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::format(dir, "the folder holds no .csv files"));
        }
        let mut parts = Vec::with_capacity(files.len());
        for file in &files {
            let table = Table::read(file)?;
            let mut raws = table.series(file, columns)?;
            let stem = file
                .file_stem()
                .map_or("series".into(), |s| s.to_string_lossy().into_owned());
            for raw in &mut raws {
                raw.name = stem.clone();
            }
            parts.push(Self::checked(file, raws, columns, Layout::Folder)?);
        }
        let mut collection = parts.remove(0);
        for (part, file) in parts.into_iter().zip(&files[1..]) {
            if part.format != collection.format {
                return Err(Error::format(
                    file,
                    "its time column is written unlike the folder's first file's",
                ));
            }
            same_frequency(
                file,
                (&collection.series[0].name, collection.step),
                (&part.series[0].name, part.step),
            )?;
            collection.series.extend(part.series);
            collection.notes.extend(part.notes);
        }
        Ok(collection)
    }

    /// The raw series of one file checked (order, steps, gaps) and split into one series per
    /// target.
    fn checked(
        path: &Path,
        raws: Vec<RawSeries>,
        columns: &Columns,
        layout: Layout,
    ) -> Result<Collection> {
        if columns.id.is_some() && raws.iter().all(|raw| raw.stamps.len() == 1) && raws.len() > 1 {
            return Err(Error::format(
                path,
                format!(
                    "the id column `{}` gives each of its {} series a single row: a series \
                     needs at least two (is `--id` the column that names the series?)",
                    columns.id.as_deref().unwrap_or(""),
                    raws.len()
                ),
            ));
        }
        let mut series = Vec::new();
        let mut notes = Vec::new();
        let mut frequency: Option<(String, Step)> = None;
        let format = raws[0].format;
        let several = columns.targets.len() > 1;
        for mut raw in raws {
            let name = raw.name.clone();
            raw.put_in_order(path, &mut notes)?;
            let step = raw.regular_steps(path, columns.fill, &mut notes)?;
            match &frequency {
                None => frequency = Some((name.clone(), step)),
                Some((first, first_step)) => {
                    same_frequency(path, (first, *first_step), (&name, step))?;
                }
            }
            let targets = columns.targets.len();
            let covariates = raw.columns.split_off(targets);
            for (target, values) in columns.targets.iter().zip(raw.columns) {
                let name = match (layout, several) {
                    (Layout::Wide, _) => target.clone(),
                    (_, true) => format!("{name}/{target}"),
                    (_, false) => name.clone(),
                };
                series.push(Series {
                    name,
                    stamps: raw.stamps.clone(),
                    values,
                    covariates: covariates.clone(),
                });
            }
        }
        let (_, step) = frequency.expect("a file has data rows");
        Ok(Collection {
            series,
            format,
            step,
            layout,
            notes,
        })
    }

    /// The calendar's season of the collection's step (12 for months, …), if it has one.
    pub fn calendar_season(&self) -> Option<usize> {
        self.step.calendar_season()
    }

    /// Rows of the shortest series.
    pub fn shortest(&self) -> usize {
        self.series.iter().map(Series::len).min().unwrap_or(0)
    }
}

/// The error for two series of different steps.
fn same_frequency(path: &Path, (a, a_step): (&str, Step), (b, b_step): (&str, Step)) -> Result<()> {
    if a_step == b_step {
        return Ok(());
    }
    Err(Error::format(
        path,
        format!(
            "series `{a}` has a step of {} and series `{b}` of {}: one run forecasts series of \
             one frequency (split the input by frequency)",
            a_step.describe(),
            b_step.describe()
        ),
    ))
}

/// `a, b, c` or `a, b, c, … (n in all)`.
pub fn list(names: &[&str]) -> String {
    const SHOWN: usize = 5;
    match names.len() > SHOWN {
        true => format!("{}, … ({} in all)", names[..SHOWN].join(", "), names.len()),
        false => names.join(", "),
    }
}

/// One series as read, before its checks: its stamps, its file lines, and its targets'
/// columns followed by its covariates'.
struct RawSeries {
    name: String,
    lines: Vec<usize>,
    stamps: Vec<Stamp>,
    format: StampFormat,
    /// `[targets…, covariates…][row]`
    columns: Vec<Vec<f64>>,
}

impl RawSeries {
    /// `series X: ` before a message, when the file holds several.
    fn context(&self, message: String) -> String {
        match self.name.is_empty() {
            true => message,
            false => format!("series `{}`: {message}", self.name),
        }
    }

    /// Newest-first series are turned around (with a note); any other disorder, or a repeated
    /// stamp, is an error naming the lines.
    fn put_in_order(&mut self, path: &Path, notes: &mut Vec<String>) -> Result<()> {
        let stamps = &self.stamps;
        let descending = stamps.len() > 1 && stamps.windows(2).all(|pair| pair[0] > pair[1]);
        if descending {
            self.stamps.reverse();
            self.lines.reverse();
            self.columns.iter_mut().for_each(|column| column.reverse());
            let note = "the file runs newest first: its rows were put in time order";
            notes.push(self.context(note.into()));
            return Ok(());
        }
        for (row, pair) in stamps.windows(2).enumerate() {
            let (line, next) = (self.lines[row], self.lines[row + 1]);
            if pair[0] == pair[1] {
                let message = format!(
                    "lines {line} and {next} have the same time stamp ({}): each time may \
                     appear once",
                    pair[0].write(self.format)
                );
                return Err(Error::format(path, self.context(message)));
            }
            if pair[0] > pair[1] {
                let message = format!(
                    "the time column is not in order: line {next} ({}) comes before line \
                     {line} ({}); sort the file by time",
                    pair[1].write(self.format),
                    pair[0].write(self.format)
                );
                return Err(Error::format(path, self.context(message)));
            }
        }
        Ok(())
    }

    /// Finds the regular step (the most common one), refuses irregular ones, and reports
    /// missing steps: refused without `fill`, interpolated, or kept.
    fn regular_steps(
        &mut self,
        path: &Path,
        fill: Option<Fill>,
        notes: &mut Vec<String>,
    ) -> Result<Step> {
        if self.stamps.len() < 2 {
            let message = format!(
                "{} data row(s): a series needs at least two",
                self.stamps.len()
            );
            return Err(Error::format(path, self.context(message)));
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
                    let message = format!(
                        "irregular time steps: {} after {} (the usual step is {})",
                        self.stamps[row + 1].write(self.format),
                        self.stamps[row].write(self.format),
                        step.describe()
                    );
                    return Err(Error::format(path, self.context(message)));
                }
            }
        }
        if gaps.is_empty() {
            return Ok(step);
        }
        let missing: u32 = gaps.iter().map(|&(_, count)| count).sum();
        let first = self.stamps[gaps[0].0].write(self.format);
        let report = format!(
            "{missing} missing time step(s) in {} gap(s), the first after {first}",
            gaps.len()
        );
        match fill {
            None => {
                let message = format!(
                    "{report}: pass --fill linear to interpolate them, or --fill none to use \
                     the rows as consecutive steps"
                );
                Err(Error::format(path, self.context(message)))
            }
            Some(Fill::None) => {
                notes.push(
                    self.context(format!("{report}; the rows are used as consecutive steps")),
                );
                Ok(step)
            }
            Some(Fill::Linear) => {
                self.fill_linear(&gaps, step);
                notes.push(self.context(format!("{report}; filled by linear interpolation")));
                Ok(step)
            }
        }
    }

    /// Inserts the missing steps of `gaps` (`(row before the gap, steps missing)`).
    fn fill_linear(&mut self, gaps: &[(usize, u32)], step: Step) {
        let mut stamps = Vec::new();
        let mut columns: Vec<Vec<f64>> = vec![Vec::new(); self.columns.len()];
        let mut gaps = gaps.iter().peekable();
        for row in 0..self.stamps.len() {
            stamps.push(self.stamps[row]);
            for (column, source) in columns.iter_mut().zip(&self.columns) {
                column.push(source[row]);
            }
            if let Some(&&(at, missing)) = gaps.peek()
                && at == row
            {
                gaps.next();
                for k in 1..=missing {
                    let share = f64::from(k) / f64::from(missing + 1);
                    stamps.push(self.stamps[row].after(step, k).expect("a stamp in range"));
                    for (column, source) in columns.iter_mut().zip(&self.columns) {
                        column.push(source[row] + share * (source[row + 1] - source[row]));
                    }
                }
            }
        }
        // Interpolated rows have no line of their own; they report the line before them.
        self.lines = stamps
            .iter()
            .scan(0usize, |row, stamp| {
                while *row + 1 < self.stamps.len() && self.stamps[*row + 1] <= *stamp {
                    *row += 1;
                }
                Some(self.lines[*row])
            })
            .collect();
        self.stamps = stamps;
        self.columns = columns;
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

    /// The series of the file: one (every row) without an id column, else one per id in
    /// the order the file first names them; each with its targets' and covariates' columns.
    fn series(&self, path: &Path, columns: &Columns) -> Result<Vec<RawSeries>> {
        let value_columns = columns
            .targets
            .iter()
            .chain(&columns.covariates)
            .map(|name| self.column(path, name))
            .collect::<Result<Vec<_>>>()?;
        let time = columns
            .time
            .as_deref()
            .map(|name| self.column(path, name))
            .transpose()?;
        let groups: Vec<(String, Vec<usize>)> = match &columns.id {
            None => vec![(String::new(), (0..self.rows.len()).collect())],
            Some(name) => self.groups(path, self.column(path, name)?)?,
        };
        let mut format = None;
        let mut raws = Vec::with_capacity(groups.len());
        for (name, rows) in groups {
            let stamps = match time {
                Some(column) => self.stamps(path, column, &rows, &mut format)?,
                None => (0..rows.len()).map(|i| Stamp::Number(i as f64)).collect(),
            };
            let values = value_columns
                .iter()
                .map(|&column| {
                    rows.iter()
                        .map(|&row| self.number(path, row, column))
                        .collect::<Result<Vec<_>>>()
                })
                .collect::<Result<Vec<_>>>()?;
            raws.push(RawSeries {
                name,
                lines: rows.iter().map(|&row| self.line(row)).collect(),
                stamps,
                format: match time {
                    Some(_) => format.unwrap_or(StampFormat::Number),
                    None => StampFormat::Row,
                },
                columns: values,
            });
        }
        Ok(raws)
    }

    /// The rows of each id, ids in the order of their first row.
    fn groups(&self, path: &Path, column: usize) -> Result<Vec<(String, Vec<usize>)>> {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for row in 0..self.rows.len() {
            let id = self.cell(row, column);
            if id.is_empty() {
                return Err(Error::format(
                    path,
                    format!(
                        "line {}, column `{}`: the series id is empty",
                        self.line(row),
                        self.header[column]
                    ),
                ));
            }
            let next = groups.len();
            let group = *index.entry(id).or_insert(next);
            if group == next {
                groups.push((id.to_string(), Vec::new()));
            }
            groups[group].1.push(row);
        }
        Ok(groups)
    }

    /// The time column's stamps of `rows`, all of one kind (`format`, shared across calls).
    fn stamps(
        &self,
        path: &Path,
        column: usize,
        rows: &[usize],
        format: &mut Option<StampFormat>,
    ) -> Result<Vec<Stamp>> {
        let name = &self.header[column];
        let mut stamps = Vec::with_capacity(rows.len());
        for &row in rows {
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
            match *format {
                None => *format = Some(kind),
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
        Ok(stamps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(targets: &[&str], id: Option<&str>) -> Columns {
        Columns {
            targets: targets.iter().map(|t| t.to_string()).collect(),
            time: Some("t".into()),
            id: id.map(str::to_string),
            covariates: Vec::new(),
            fill: None,
        }
    }

    fn read(text: &str, columns: &Columns) -> Result<Collection> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, text).unwrap();
        Collection::read(&path, columns)
    }

    #[test]
    fn a_long_file_is_one_series_per_id_each_in_its_own_order() {
        let text = "id,t,v\nb,2000-01,4\na,2000-01,1\nb,2000-02,5\na,2000-02,2\na,2000-03,3\nb,2000-03,6\n";
        let collection = read(text, &columns(&["v"], Some("id"))).unwrap();
        let names: Vec<&str> = collection.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(collection.layout, Layout::Long);
        assert_eq!(collection.series[1].values, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn series_of_one_row_duplicates_and_mixed_frequencies_are_errors() {
        let one_row = "id,t,v\na,2000-01,1\nb,2000-01,2\nc,2000-01,3\n";
        let err = read(one_row, &columns(&["v"], Some("id")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("gives each of its 3 series a single row"),
            "{err}"
        );
        let duplicate = "id,t,v\na,2000-01,1\na,2000-02,2\nb,2000-01,3\nb,2000-01,4\n";
        let err = read(duplicate, &columns(&["v"], Some("id")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("series `b`: lines 4 and 5 have the same time stamp (2000-01)"),
            "{err}"
        );
        let mixed = "id,t,v\na,2000-01,1\na,2000-02,2\nb,2000-01,3\nb,2000-04,4\n";
        let err = read(mixed, &columns(&["v"], Some("id")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("series `a` has a step of 1 month and series `b` of 3 months"),
            "{err}"
        );
    }

    #[test]
    fn a_wide_file_is_one_series_per_target_column() {
        let text = "t,x,y\n2000-01,1,10\n2000-02,2,11\n2000-03,3,13\n";
        let collection = read(text, &columns(&["x", "y"], None)).unwrap();
        let names: Vec<&str> = collection.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["x", "y"]);
        assert_eq!(collection.series[1].values, vec![10.0, 11.0, 13.0]);
        assert_eq!(collection.step, Step::Months(1));
    }

    #[test]
    fn a_folder_is_one_series_per_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.csv"), "t,v\n2000,1\n2001,2\n2002,4\n").unwrap();
        std::fs::write(dir.path().join("a.csv"), "t,v\n1990,7\n1991,8\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a series").unwrap();
        let collection = Collection::read(dir.path(), &columns(&["v"], None)).unwrap();
        let names: Vec<&str> = collection.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(collection.layout, Layout::Folder);
        std::fs::write(dir.path().join("c.csv"), "t,v\n2000-01,1\n2000-02,2\n").unwrap();
        let err = Collection::read(dir.path(), &columns(&["v"], None))
            .unwrap_err()
            .to_string();
        assert!(err.contains("written unlike"), "{err}");
    }
}
