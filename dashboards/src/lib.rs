//! dashboards: turns a Veridian kernel's serial log into benchmark outputs
//! and a self-contained HTML dashboard.
//!
//! - [`records`] reads one console line into a typed record; [`RunLog`]
//!   collects a whole log, turning every unreadable line into a [`Warning`]
//!   (line number and reason) instead of failing.
//! - [`write_run_dir`] writes what the bench runner keeps per run:
//!   `serial.log`, `summary.json`, `histograms.hlog`, `<bench>.hgrm` and
//!   `dashboard.html`.
//! - [`render_dashboard`] draws one or more runs (overlaid, with a ratio
//!   table against the first) as one HTML file with inline SVG charts.
//!
//! Histograms are decoded and re-encoded only through the `hdrhistogram`
//! crate so that our files stay readable by every HdrHistogram tool.
#![forbid(unsafe_code)]

pub mod baseline;
pub mod compare;
mod error;
pub mod hdr;
mod html;
pub mod records;
mod run;
mod runlog;
pub mod stats;
mod summary;

pub use error::Error;
pub use html::render_dashboard;
pub use run::{
    DASHBOARD_HTML, HISTOGRAM_LOG, LabeledRun, SERIAL_LOG, SUMMARY_JSON, load_run, write_run_dir,
    write_run_dir_booted_at,
};
pub use runlog::{RunLog, Warning};
pub use summary::{RunSummary, SummaryDocument, format_value};
