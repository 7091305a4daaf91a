//! Where things are: the repository root, cargo's target directory, the
//! kernel ELF cargo builds, and the runner's own scratch space under target/.

use std::fs;
use std::path::{Path, PathBuf};

/// The repository and its build output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// The directory holding the workspace `Cargo.toml`.
    pub root: PathBuf,
    /// Cargo's target directory (`CARGO_TARGET_DIR`, else `<root>/target`).
    pub target: PathBuf,
}

impl Workspace {
    /// Finds the workspace from the current directory (scripts cd to the root).
    #[must_use]
    pub fn locate() -> Self {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let root = find_workspace_root(&cwd, |manifest| fs::read_to_string(manifest).ok())
            .unwrap_or_else(|| cwd.clone());
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .filter(|dir| !dir.is_empty())
            .map_or_else(|| root.join("target"), |dir| cwd.join(dir));
        Self { root, target }
    }

    /// The kernel ELF `cargo build -p kernel --release --target x86_64-unknown-none` writes.
    #[must_use]
    pub fn default_kernel(&self) -> PathBuf {
        self.target
            .join("x86_64-unknown-none")
            .join("release")
            .join("veridian")
    }

    /// The runner's scratch directory (probe cache, boot ISOs).
    #[must_use]
    pub fn runner_dir(&self) -> PathBuf {
        self.target.join("veridian-run")
    }
}

/// The nearest directory at or above `start` whose `Cargo.toml` declares a
/// `[workspace]`; `read` returns a manifest's text if it exists.
#[must_use]
pub fn find_workspace_root(
    start: &Path,
    read: impl Fn(&Path) -> Option<String>,
) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| {
            read(&dir.join("Cargo.toml"))
                .is_some_and(|text| text.lines().any(|line| line.trim() == "[workspace]"))
        })
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_the_nearest_workspace_manifest() {
        let read = |path: &Path| match path.to_str() {
            Some("/repo/Cargo.toml") => Some("[workspace]\nmembers = []\n".to_owned()),
            Some("/repo/scripts/runner/Cargo.toml") => {
                Some("[package]\nname = \"runner\"\n".to_owned())
            }
            _ => None,
        };
        assert_eq!(
            find_workspace_root(Path::new("/repo/scripts/runner/src"), read),
            Some(PathBuf::from("/repo"))
        );
        assert_eq!(find_workspace_root(Path::new("/elsewhere"), read), None);
    }

    #[test]
    fn kernel_and_scratch_paths_live_under_target() {
        let workspace = Workspace {
            root: PathBuf::from("/repo"),
            target: PathBuf::from("/repo/target"),
        };
        assert_eq!(
            workspace.default_kernel(),
            Path::new("/repo/target/x86_64-unknown-none/release/veridian")
        );
        assert_eq!(
            workspace.runner_dir(),
            Path::new("/repo/target/veridian-run")
        );
    }
}
