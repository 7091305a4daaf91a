//! The entry-point scripts' own argument handling: `scripts/test.sh --help`
//! explains itself and an unknown argument is a usage error, both at once
//! and without building or booting anything.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn test_sh() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test.sh")
}

#[test]
fn test_sh_help_prints_usage_and_exits_zero_at_once() {
    let started = Instant::now();
    let output = Command::new(test_sh()).arg("--help").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.starts_with("Usage: scripts/test.sh [--help]"),
        "{stdout}"
    );
    assert!(stdout.contains("128+N interrupted by signal N"), "{stdout}");
    assert!(started.elapsed().as_secs() < 10);
}

#[test]
fn test_sh_rejects_unknown_arguments() {
    let output = Command::new(test_sh())
        .arg("--frobnicate")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown argument --frobnicate"), "{stderr}");
    assert!(output.stdout.is_empty());
}
