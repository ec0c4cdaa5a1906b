//! Running the example programs as a user would, from the tests.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The path of a built example program (cargo builds the examples before the tests run).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/examples/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests with `cargo test`",
        path.display()
    );
    path
}

/// Runs an example with `args` on the flex backend, without a progress bar.
pub fn run(name: &str, args: &[&str]) -> Output {
    Command::new(example(name))
        .args(args)
        .args(["--backend", "flex", "--progress", "lines"])
        .output()
        .expect("run the example")
}

/// Standard output and error of a finished program, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Asserts that the program succeeded and that its standard output says `phrase`.
pub fn assert_succeeded_saying(output: &Output, phrase: &str) {
    assert!(output.status.success(), "{}", text(output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(phrase),
        "no {phrase:?} in the output: {}",
        text(output)
    );
}
