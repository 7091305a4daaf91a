//! The crate's error type: what can stop a run directory or a dashboard
//! from being written (bad log lines never do; they become warnings).

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// A failure to read inputs or write outputs.
#[derive(Debug, Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// `summary.json` could not be serialized.
    #[error("summary.json: {0}")]
    Json(#[from] serde_json::Error),
    /// The interval log could not be written.
    #[error("histograms.hlog: {0}")]
    HistogramLog(String),
    /// A chart could not be drawn.
    #[error("chart {chart:?}: {message}")]
    Chart {
        /// Which chart.
        chart: String,
        /// The drawing library's error.
        message: String,
    },
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
