//! The forecast program as a person runs it on their own CSV files: a seasonal series with a
//! trend trained, backtested and forecast past its end; a newer file forecast with the saved
//! model; a collection of series (a long file, a folder) with one model across them, a
//! forecast for each, its interval around its point at every step; a run killed at any moment
//! resuming to the uninterrupted run's forecast; a newest-first file and missing steps
//! handled; and every kind of bad input refused in one line, an earlier run left as it was.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::program::{assert_succeeded_saying, example, run, text};
use serde_json::Value;

/// A monthly series: a trend, a 12-month season and a little deterministic noise.
fn seasonal_csv(rows: usize) -> String {
    let mut csv = String::from("month,sales,price\n");
    for i in 0..rows {
        let (year, month) = (2000 + i / 12, i % 12 + 1);
        let season = (2.0 * std::f64::consts::PI * (i % 12) as f64 / 12.0).sin();
        let noise = ((i * 7919) % 13) as f64 / 13.0 - 0.5;
        let sales = 100.0 + 0.8 * i as f64 + 15.0 * season + 2.0 * noise;
        csv += &format!(
            "{year}-{month:02},{sales:.3},{:.2}\n",
            10.0 + (i % 5) as f64
        );
    }
    csv
}

fn forecast(args: &[&str]) -> std::process::Output {
    run("forecast", args)
}

#[test]
fn a_seasonal_series_is_trained_backtested_and_forecast_in_its_own_units() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("sales.csv");
    fs::write(&csv, seasonal_csv(156)).unwrap();
    let artifacts = dir.path().join("run");
    let output = forecast(&[
        "--csv",
        csv.to_str().unwrap(),
        "--time",
        "month",
        "--target",
        "sales",
        "--covariates",
        "price",
        "--horizon",
        "6",
        "--quantiles",
        "--epochs",
        "40",
        "--ensemble",
        "2",
        "--artifacts",
        artifacts.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("split by time: training"), "{stdout}");
    assert!(stdout.contains("season: 12 (calendar"), "{stdout}");
    // metrics.json: every method scored on the test part, ours better than persistence on a
    // series with a season.
    let metrics: Value =
        serde_json::from_str(&fs::read_to_string(artifacts.join("metrics.json")).unwrap()).unwrap();
    let methods = metrics["test"][0]["methods"].as_array().unwrap();
    let mase = |name: &str| -> f64 {
        methods.iter().find(|m| m["method"] == name).unwrap()["scores"]["mase"]
            .as_f64()
            .unwrap()
    };
    for name in [
        "LSTM (ours)",
        "persistence",
        "seasonal naive",
        "linear AR",
        "Holt-Winters",
        "Theta",
    ] {
        assert!(mase(name).is_finite() && mase(name) > 0.0, "{name}");
    }
    assert!(mase("LSTM (ours)") < mase("persistence"), "{stdout}");
    let coverage = methods[0]["scores"]["coverage"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&coverage));
    // forecast.csv: the six months after the last row, each with its interval around it.
    let forecast_csv = fs::read_to_string(artifacts.join("forecast.csv")).unwrap();
    let lines: Vec<&str> = forecast_csv.lines().collect();
    assert_eq!(lines[0], "month,sales,sales_lower_80,sales_upper_80");
    assert_eq!(lines.len(), 7);
    assert!(lines[1].starts_with("2013-01,"), "{}", lines[1]);
    assert!(lines[6].starts_with("2013-06,"), "{}", lines[6]);
    for line in &lines[1..] {
        let values: Vec<f64> = line
            .split(',')
            .skip(1)
            .map(|v| v.parse().unwrap())
            .collect();
        assert!(values[1] <= values[0] && values[0] <= values[2], "{line}");
        // In the series' units: around the level the trend has reached (~225).
        assert!(values[0] > 150.0 && values[0] < 300.0, "{line}");
    }
    // A newer file: the saved model forecasts past its end; a changed window is refused.
    let newer = dir.path().join("newer.csv");
    fs::write(&newer, seasonal_csv(162)).unwrap();
    let again = forecast(&[
        "--predict",
        "--csv",
        newer.to_str().unwrap(),
        "--artifacts",
        artifacts.to_str().unwrap(),
    ]);
    assert!(again.status.success(), "{}", text(&again));
    let forecast_csv = fs::read_to_string(artifacts.join("forecast.csv")).unwrap();
    assert!(
        forecast_csv.lines().nth(1).unwrap().starts_with("2013-07,"),
        "{forecast_csv}"
    );
    let changed = forecast(&[
        "--predict",
        "--window",
        "5",
        "--artifacts",
        artifacts.to_str().unwrap(),
    ]);
    assert!(!changed.status.success());
    assert!(
        String::from_utf8_lossy(&changed.stderr).contains("--window cannot change with --predict"),
        "{}",
        text(&changed)
    );
}

#[test]
fn newest_first_files_are_turned_around_and_gaps_are_filled_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let full = seasonal_csv(120);
    let mut lines: Vec<&str> = full.lines().collect();
    let header = lines.remove(0);
    let reversed = std::iter::once(header)
        .chain(lines.iter().rev().copied())
        .collect::<Vec<_>>()
        .join("\n");
    let csv = dir.path().join("reversed.csv");
    fs::write(&csv, reversed + "\n").unwrap();
    let artifacts = dir.path().join("reversed");
    let common = [
        "--time",
        "month",
        "--target",
        "sales",
        "--horizon",
        "3",
        "--epochs",
        "3",
        "--ensemble",
        "1",
    ];
    let output = forecast(
        &[
            &[
                "--csv",
                csv.to_str().unwrap(),
                "--artifacts",
                artifacts.to_str().unwrap(),
            ][..],
            &common,
        ]
        .concat(),
    );
    assert_succeeded_saying(&output, "newest first");
    // Two months missing in the middle.
    let with_gap: Vec<&str> = full
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 50 && *i != 51)
        .map(|(_, l)| l)
        .collect();
    let csv = dir.path().join("gap.csv");
    fs::write(&csv, with_gap.join("\n") + "\n").unwrap();
    let refused = forecast(
        &[
            &[
                "--csv",
                csv.to_str().unwrap(),
                "--artifacts",
                dir.path().join("gap").to_str().unwrap(),
            ][..],
            &common,
        ]
        .concat(),
    );
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("2 missing time step(s) in 1 gap(s), the first after 2004-01"),
        "{message}"
    );
    assert!(message.contains("--fill linear"), "{message}");
    let filled = forecast(
        &[
            &[
                "--csv",
                csv.to_str().unwrap(),
                "--fill",
                "linear",
                "--artifacts",
                dir.path().join("gap").to_str().unwrap(),
            ][..],
            &common,
        ]
        .concat(),
    );
    assert_succeeded_saying(&filled, "filled by linear interpolation");
}

/// The program's one-line error for a file of `contents`, with `target`, `horizon` and
/// `extra` flags, checking that it fails, prints nothing but that line, and leaves the earlier
/// run in `artifacts` as it was.
fn bad_input(
    dir: &Path,
    artifacts: &Path,
    contents: &str,
    (target, horizon): (&str, &str),
    extra: &[&str],
) -> String {
    let csv = dir.join("bad.csv");
    fs::write(&csv, contents).unwrap();
    let before = fs::read(artifacts.join("config.json")).unwrap();
    let mut args = vec![
        "--csv",
        csv.to_str().unwrap(),
        "--time",
        "month",
        "--target",
        target,
        "--horizon",
        horizon,
        "--artifacts",
        artifacts.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let output = forecast(&args);
    assert!(!output.status.success(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    assert_eq!(stderr.lines().count(), 1, "{}", text(&output));
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(
        fs::read(artifacts.join("config.json")).unwrap(),
        before,
        "the earlier run was touched"
    );
    assert!(
        !dir.join("run.previous").exists(),
        "the earlier run was moved"
    );
    stderr
}

#[test]
fn bad_input_is_one_line_and_leaves_an_earlier_run_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("good.csv");
    let good = seasonal_csv(80);
    fs::write(&csv, &good).unwrap();
    let artifacts = dir.path().join("run");
    let first = forecast(&[
        "--csv",
        csv.to_str().unwrap(),
        "--time",
        "month",
        "--target",
        "sales",
        "--horizon",
        "3",
        "--epochs",
        "2",
        "--ensemble",
        "1",
        "--artifacts",
        artifacts.to_str().unwrap(),
    ]);
    assert!(first.status.success(), "{}", text(&first));
    let constant: String = good
        .lines()
        .enumerate()
        .map(|(i, line)| match i {
            0 => format!("{line}\n"),
            _ => format!("{},7,1\n", line.split(',').next().unwrap()),
        })
        .collect();
    const COVARIATES: &[&str] = &["--covariates", "price"];
    let case = |contents: String, target, horizon, extra: &'static [&'static str], expected| Case {
        contents,
        question: (target, horizon),
        extra,
        expected,
    };
    let cases = [
        case(String::new(), "sales", "3", &[], "the file is empty"),
        case(
            "month,sales\n".into(),
            "sales",
            "3",
            &[],
            "a header but no data rows",
        ),
        case(
            "month,sales\n2000-01,5\n".into(),
            "sales",
            "3",
            &[],
            "1 data row(s): a series needs at least two",
        ),
        case(
            good.clone(),
            "revenue",
            "3",
            &[],
            "no column `revenue` (the file has: month, sales, price)",
        ),
        case(
            constant,
            "sales",
            "3",
            &[],
            "holds one value (7) in every row",
        ),
        case(
            good.replacen("\n2001-03,", "\n2001-03,many", 1),
            "sales",
            "3",
            &[],
            "line 16, column `sales`: `many",
        ),
        case(
            good.replacen(",10.00\n", ",abc\n", 1),
            "sales",
            "3",
            COVARIATES,
            "`abc` is not a number",
        ),
        case(
            good.replacen(",10.00\n", ",\n", 1),
            "sales",
            "3",
            COVARIATES,
            "the cell is empty (a gap in the series)",
        ),
        case(
            swap_rows(&good, 5, 6),
            "sales",
            "3",
            &[],
            "the time column is not in order: line 7",
        ),
        case(
            duplicate_row(&good, 9),
            "sales",
            "3",
            &[],
            "have the same time stamp (2000-09)",
        ),
        case(
            good.clone(),
            "sales",
            "70",
            &[],
            "a horizon of 70 steps needs series of",
        ),
        case(
            good.clone(),
            "sales",
            "3",
            &["--season", "1000"],
            "--season 1000 is longer than series `sales` (80 rows)",
        ),
        case(
            good.clone(),
            "sales",
            "3",
            &["--season", "50"],
            "--season 50 does not fit twice in series `sales`",
        ),
    ];
    for case in cases {
        let message = bad_input(
            dir.path(),
            &artifacts,
            &case.contents,
            case.question,
            case.extra,
        );
        assert!(
            message.contains(case.expected),
            "expected `{}` in: {message}",
            case.expected
        );
    }
}

/// A bad file, the question asked of it (target, horizon), more flags, and the words its
/// error must hold.
struct Case {
    contents: String,
    question: (&'static str, &'static str),
    extra: &'static [&'static str],
    expected: &'static str,
}

fn swap_rows(csv: &str, a: usize, b: usize) -> String {
    let mut lines: Vec<&str> = csv.lines().collect();
    lines.swap(a, b);
    lines.join("\n") + "\n"
}

fn duplicate_row(csv: &str, row: usize) -> String {
    let mut lines: Vec<&str> = csv.lines().collect();
    let line = lines[row];
    lines.insert(row, line);
    lines.join("\n") + "\n"
}

/// A long file of monthly series, one row per series and month: each with its own start,
/// length, level, trend and season, and a little deterministic noise.
fn long_csv(series: &[(&str, usize, usize)]) -> String {
    let mut csv = String::from("store,month,units\n");
    for (k, &(name, start, rows)) in series.iter().enumerate() {
        for i in 0..rows {
            let t = start + i;
            let (year, month) = (2000 + t / 12, t % 12 + 1);
            let season = (2.0 * std::f64::consts::PI * (t % 12) as f64 / 12.0).sin();
            let noise = (((t + 7 * k) * 7919) % 13) as f64 / 13.0 - 0.5;
            let level = 50.0 * (k + 1) as f64;
            let units = level + (0.3 + 0.1 * k as f64) * i as f64 + 8.0 * season + 1.5 * noise;
            csv += &format!("{name},{year}-{month:02},{units:.3}\n");
        }
    }
    csv
}

/// `forecast.csv`'s rows of a long layout: (series, time, point, lower, upper).
fn long_forecasts(path: &Path) -> Vec<(String, String, f64, f64, f64)> {
    let text = fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            let number = |i: usize| cells[i].parse::<f64>().unwrap();
            (
                cells[0].to_string(),
                cells[1].to_string(),
                number(2),
                number(3),
                number(4),
            )
        })
        .collect()
}

const STORES: &[(&str, usize, usize)] = &[
    ("north", 0, 84),
    ("south", 6, 60),
    ("east", 12, 72),
    ("west", 3, 48),
    ("tiny", 30, 10),
];

#[test]
fn one_model_forecasts_every_series_of_a_long_file_its_interval_around_its_point() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("stores.csv");
    fs::write(&csv, long_csv(STORES)).unwrap();
    let artifacts = dir.path().join("run");
    let output = forecast(&[
        "--csv",
        csv.to_str().unwrap(),
        "--id",
        "store",
        "--time",
        "month",
        "--target",
        "units",
        "--horizon",
        "6",
        "--epochs",
        "30",
        "--ensemble",
        "2",
        "--artifacts",
        artifacts.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The 10-month series is too short for two seasons and a horizon: left out, said so.
    assert!(
        stdout.contains("1 series are too short for a forecast of 6 steps and are left out: tiny"),
        "{stdout}"
    );
    assert!(stdout.contains("5 series of"), "{stdout}");
    assert!(stdout.contains("backtest on the test parts of"), "{stdout}");
    let rows = long_forecasts(&artifacts.join("forecast.csv"));
    let header = fs::read_to_string(artifacts.join("forecast.csv")).unwrap();
    assert!(
        header.starts_with("store,month,units,units_lower_80,units_upper_80\n"),
        "{header}"
    );
    assert_eq!(rows.len(), 4 * 6);
    for store in ["north", "south", "east", "west"] {
        let mine: Vec<_> = rows.iter().filter(|r| r.0 == store).collect();
        assert_eq!(mine.len(), 6, "{store}");
        // Each series' forecast starts the month after its own last row.
        let &(_, start, length) = STORES.iter().find(|s| s.0 == store).unwrap();
        let next = start + length;
        assert_eq!(
            mine[0].1,
            format!("{}-{:02}", 2000 + next / 12, next % 12 + 1),
            "{store}"
        );
    }
    for (store, time, point, lower, upper) in &rows {
        assert!(
            lower <= point && point <= upper,
            "{store} {time}: {point} outside [{lower}, {upper}]"
        );
    }
    // The baselines' forecasts past the end, one column each.
    let baselines = fs::read_to_string(artifacts.join("baselines.csv")).unwrap();
    assert!(
        baselines
            .starts_with("store,month,naive,seasonal_naive,linear_ar,ets,holt_winters,theta\n"),
        "{baselines}"
    );
    assert_eq!(baselines.lines().count(), 1 + 4 * 6);
    let metrics: Value =
        serde_json::from_str(&fs::read_to_string(artifacts.join("metrics.json")).unwrap()).unwrap();
    let summary = metrics["summary"]["test"].as_array().unwrap();
    assert_eq!(summary[0]["method"], "LSTM (ours)");
    assert!(summary[0]["smape"].as_f64().unwrap().is_finite());
}

#[test]
fn a_folder_of_files_is_a_collection_and_series_of_another_frequency_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("shops");
    fs::create_dir(&folder).unwrap();
    for (name, _, rows) in &STORES[..3] {
        let csv = seasonal_csv(*rows);
        fs::write(folder.join(format!("{name}.csv")), csv).unwrap();
    }
    let artifacts = dir.path().join("run");
    let common = [
        "--time",
        "month",
        "--target",
        "sales",
        "--horizon",
        "4",
        "--epochs",
        "5",
        "--ensemble",
        "1",
        "--artifacts",
    ];
    let args = |folder: &Path| -> Vec<String> {
        let mut args = vec!["--csv".to_string(), folder.display().to_string()];
        args.extend(common.iter().map(|a| a.to_string()));
        args.push(artifacts.display().to_string());
        args
    };
    let strings = args(&folder);
    let output = forecast(&strings.iter().map(String::as_str).collect::<Vec<_>>());
    assert_succeeded_saying(&output, "3 series of");
    let forecast_csv = fs::read_to_string(artifacts.join("forecast.csv")).unwrap();
    assert!(
        forecast_csv.starts_with("series,month,sales,"),
        "{forecast_csv}"
    );
    for name in ["north", "south", "east"] {
        assert_eq!(
            forecast_csv
                .lines()
                .filter(|l| l.starts_with(&format!("{name},")))
                .count(),
            4
        );
    }
    // A quarterly file among monthly ones.
    let quarterly: String = seasonal_csv(60)
        .lines()
        .enumerate()
        .filter(|(i, _)| *i == 0 || (i - 1) % 3 == 0)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    fs::write(folder.join("quarterly.csv"), quarterly).unwrap();
    let strings = args(&folder);
    let output = forecast(&strings.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("a step of 1 month and series"), "{stderr}");
    assert!(stderr.contains("of 3 months"), "{stderr}");
}

#[test]
fn a_long_file_with_one_row_per_series_or_a_repeated_time_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let cases = [
        (
            "store,month,units\na,2000-01,1\nb,2000-01,2\nc,2000-01,3\n".to_string(),
            "gives each of its 3 series a single row",
        ),
        (
            long_csv(&STORES[..2]).replacen("south,2000-08,", "south,2000-07,", 1),
            "series `south`: lines",
        ),
    ];
    for (contents, expected) in cases {
        let csv = dir.path().join("long.csv");
        fs::write(&csv, contents).unwrap();
        let output = forecast(&[
            "--csv",
            csv.to_str().unwrap(),
            "--id",
            "store",
            "--time",
            "month",
            "--target",
            "units",
            "--horizon",
            "3",
            "--artifacts",
            artifacts.to_str().unwrap(),
        ]);
        assert!(!output.status.success(), "{}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(expected),
            "expected `{expected}` in: {stderr}"
        );
        assert!(!artifacts.exists(), "nothing is written for bad input");
    }
}

/// The forecast program started with `args`, its standard output read line by line as it
/// comes.
struct Running {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(args: &[String]) -> Running {
        let mut child = Command::new(example("forecast"))
            .args(args)
            .args(["--backend", "flex", "--progress", "lines"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the program");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    /// Kills the program once it has printed lines holding each of `phrases` in turn (or
    /// after `delay` from start, whichever comes first).
    fn kill_after(mut self, phrases: &[&str], delay: Duration) {
        let deadline = Instant::now() + delay;
        let mut waiting = phrases.iter().peekable();
        while let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            let Some(phrase) = waiting.peek() else { break };
            match self.lines.recv_timeout(wait) {
                Ok(line) if line.contains(*phrase) => {
                    waiting.next();
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_run_killed_at_any_moment_resumes_to_the_uninterrupted_forecast() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("stores.csv");
    fs::write(&csv, long_csv(&STORES[..4])).unwrap();
    let args = |artifacts: &Path, resume: bool| -> Vec<String> {
        let mut args: Vec<String> = [
            "--csv",
            csv.to_str().unwrap(),
            "--id",
            "store",
            "--time",
            "month",
            "--target",
            "units",
            "--horizon",
            "6",
            "--epochs",
            "60",
            "--patience",
            "8",
            "--ensemble",
            "3",
            "--artifacts",
            artifacts.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec();
        if resume {
            args.push("--resume".into());
        }
        args
    };
    let whole = dir.path().join("whole");
    let started = Instant::now();
    let strings = args(&whole, false);
    let output = forecast(&strings.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(output.status.success(), "{}", text(&output));
    let seconds = started.elapsed();
    let expected = fs::read_to_string(whole.join("forecast.csv")).unwrap();

    let killed = dir.path().join("killed");
    // Between two members of the first stage, inside a member, between the stages, inside
    // the second stage: each kill lands after the run's last line that names the moment
    // (or, at the latest, after a share of the whole run's time).
    let moments: [(&[&str], f64); 4] = [
        (&["stage 1", "  member 1:"], 0.9),
        (&["stage 1", "  member 2:", "epoch"], 0.9),
        (&["stage 2"], 0.9),
        (&["stage 2", "  member 1:"], 0.9),
    ];
    for (round, (phrases, share)) in moments.into_iter().enumerate() {
        let run = Running::start(&args(&killed, round > 0));
        run.kill_after(phrases, seconds.mul_f64(share));
        assert!(
            !killed.join("forecast.csv").exists(),
            "round {round}: the run finished before it was killed"
        );
    }
    let strings = args(&killed, true);
    let output = forecast(&strings.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(output.status.success(), "{}", text(&output));
    let resumed = fs::read_to_string(killed.join("forecast.csv")).unwrap();
    assert_eq!(resumed, expected, "the resumed run's forecast differs");
    let metrics = |dir: &Path| -> Value {
        let mut metrics: Value =
            serde_json::from_str(&fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();
        metrics["csv"] = Value::Null;
        metrics
    };
    assert_eq!(metrics(&killed), metrics(&whole));
}
