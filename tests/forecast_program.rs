//! The forecast program as a person runs it on their own CSV file: a seasonal series with a
//! trend trained, backtested and forecast past its end; a newer file forecast with the saved
//! model; a newest-first file and missing steps handled; and every kind of bad input refused
//! in one line, an earlier run left as it was.

mod common;

use std::fs;
use std::path::Path;

use common::program::{assert_succeeded_saying, run, text};
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
    assert!(stdout.contains("season 12"), "{stdout}");
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
    for name in ["LSTM (ours)", "persistence", "seasonal naive", "linear AR"] {
        assert!(mase(name).is_finite() && mase(name) > 0.0, "{name}");
    }
    assert!(mase("LSTM (ours)") < mase("persistence"), "{stdout}");
    let coverage = methods[0]["scores"]["coverage"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&coverage));
    // forecast.csv: the six months after the last row, each with its interval around it.
    let forecast_csv = fs::read_to_string(artifacts.join("forecast.csv")).unwrap();
    let lines: Vec<&str> = forecast_csv.lines().collect();
    assert_eq!(lines[0], "time,sales,sales_lower_80,sales_upper_80");
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
        case(good.clone(), "sales", "40", &[], "a horizon of 40 steps"),
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
