//! The `dashboard` command: renders one HTML dashboard from one or more
//! runs (run directories written by `write_run_dir`, or raw serial logs).
//! With several runs the charts overlay them and run 1 is the baseline of
//! the ratio table.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Render a Veridian benchmark dashboard.
#[derive(Debug, Parser)]
#[command(name = "dashboard", version, about)]
struct Args {
    /// Run directories (holding serial.log) or raw serial log files; the
    /// first is the baseline for comparisons.
    #[arg(required = true, value_name = "RUN")]
    runs: Vec<PathBuf>,
    /// Where to write the HTML dashboard.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

fn main() -> ExitCode {
    // Usage errors exit with status 2 through clap.
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dashboard: error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Two runs may share a directory name (`a/run`, `b/run`); the legend then
/// numbers them so that colours stay tellable apart.
fn make_labels_unique(runs: &mut [dashboards::LabeledRun]) {
    for index in 1..runs.len() {
        let (earlier, rest) = runs.split_at_mut(index);
        if earlier.iter().any(|run| run.label == rest[0].label) {
            rest[0].label = format!("{} (run {})", rest[0].label, index + 1);
        }
    }
}

fn run(args: &Args) -> Result<(), dashboards::Error> {
    let mut runs = Vec::with_capacity(args.runs.len());
    for path in &args.runs {
        let run = dashboards::load_run(path)?;
        for warning in &run.log.warnings {
            eprintln!("dashboard: {}: {warning}", path.display());
        }
        runs.push(run);
    }
    make_labels_unique(&mut runs);
    let html = dashboards::render_dashboard(&runs)?;
    std::fs::write(&args.output, html).map_err(|source| dashboards::Error::Io {
        path: args.output.clone(),
        source,
    })?;
    println!(
        "dashboard: wrote {} ({} run(s))",
        args.output.display(),
        runs.len()
    );
    Ok(())
}
