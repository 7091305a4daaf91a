//! What the run was asked for. As `/init`, the program gets the kernel
//! command line's `key=value` words that Linux does not know itself as
//! environment variables (`accel=icount samples=2000`); run by hand it
//! reads the same variables.

use core::fmt;

/// The benchmarks, in run order. Cross-CPU rows need two CPUs online.
pub const BENCHMARKS: [&str; 11] = [
    "linux.syscall.null",
    "linux.futex.same_cpu",
    "linux.futex.cross_cpu",
    "linux.pipe.same_cpu",
    "linux.pipe.cross_cpu",
    "linux.eventfd.same_cpu",
    "linux.eventfd.cross_cpu",
    "linux.unix.same_cpu",
    "linux.unix.cross_cpu",
    "linux.shm.spin.same_cpu",
    "linux.shm.spin.cross_cpu",
];

/// Samples per benchmark when `samples=` is not given (the kernel's
/// `bench=quick` default).
pub const DEFAULT_SAMPLES: u64 = 2_000;

/// The run's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `accel=icount`: the TSC counts instructions, so the unit is
    /// `instructions` (else `cycles`).
    pub icount: bool,
    /// The `accel=` word as given (`unknown` when absent), for `@meta`.
    pub accel: String,
    /// Samples per benchmark.
    pub samples: u64,
    /// Benchmark-name prefixes to run (`only=linux.pipe,linux.futex`);
    /// empty: all.
    pub only: Vec<String>,
}

/// A setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `samples=` is not a positive integer.
    Samples(String),
    /// A prefix of `only=` selects no benchmark.
    Only(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Samples(v) => write!(f, "samples={v}: not a positive integer"),
            Self::Only(v) => write!(f, "only={v}: selects no benchmark (they start with linux.)"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the settings from `(key, value)` pairs (the environment);
    /// unknown keys are ignored (Linux passes its own through too).
    ///
    /// # Errors
    /// A `samples=` that is not a positive integer, or an `only=` prefix
    /// that selects nothing.
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config = Self {
            icount: false,
            accel: "unknown".to_owned(),
            samples: DEFAULT_SAMPLES,
            only: Vec::new(),
        };
        for (key, value) in vars {
            let value = value.as_ref().trim();
            match key.as_ref() {
                "accel" => {
                    config.icount = value == "icount";
                    config.accel = value.to_owned();
                }
                "samples" => {
                    config.samples = value
                        .parse::<u64>()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| ConfigError::Samples(value.to_owned()))?;
                }
                "only" => {
                    config.only = value
                        .split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect();
                    if let Some(bad) = config
                        .only
                        .iter()
                        .find(|p| !BENCHMARKS.iter().any(|b| b.starts_with(p.as_str())))
                    {
                        return Err(ConfigError::Only(bad.clone()));
                    }
                }
                _ => {}
            }
        }
        Ok(config)
    }

    /// Whether benchmark `name` runs.
    #[must_use]
    pub fn selected(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| name.starts_with(p.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_variables() {
        let c = Config::from_vars(Vec::<(&str, &str)>::new()).unwrap();
        assert_eq!(c.samples, DEFAULT_SAMPLES);
        assert!(!c.icount);
        assert_eq!(c.accel, "unknown");
        assert!(BENCHMARKS.iter().all(|b| c.selected(b)));
    }

    #[test]
    fn kernel_words_become_settings_and_others_are_ignored() {
        let c = Config::from_vars([
            ("TERM", "linux"),
            ("accel", "icount"),
            ("samples", "500"),
            ("only", "linux.pipe, linux.futex.same"),
        ])
        .unwrap();
        assert!(c.icount);
        assert_eq!((c.accel.as_str(), c.samples), ("icount", 500));
        assert!(c.selected("linux.pipe.cross_cpu"));
        assert!(c.selected("linux.futex.same_cpu"));
        assert!(!c.selected("linux.futex.cross_cpu"));
        let tcg = Config::from_vars([("accel", "tcg")]).unwrap();
        assert!(!tcg.icount);
    }

    #[test]
    fn bad_settings_are_errors() {
        for bad in ["0", "-3", "many", ""] {
            assert_eq!(
                Config::from_vars([("samples", bad)]),
                Err(ConfigError::Samples(bad.to_owned()))
            );
        }
        let err = Config::from_vars([("only", "ipc.call")]).unwrap_err();
        assert_eq!(err, ConfigError::Only("ipc.call".to_owned()));
        assert!(err.to_string().contains("selects no benchmark"));
    }
}
