//! GRUB ISOs that boot the kernel through Multiboot2 under BIOS and UEFI,
//! and the OVMF firmware QEMU needs to boot them under UEFI.
//!
//! The ISO holds `/boot/veridian`, user programs as `/boot/modules/<name>`
//! (each a `module2` line whose string is its name), and a grub.cfg that
//! talks over COM1 and boots at once. `grub-mkrescue` (Debian: grub-pc-bin,
//! grub-efi-amd64-bin, xorriso, mtools) does the image building.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};
use thiserror::Error;

use crate::machine::UefiFirmware;

/// Where the kernel sits inside the ISO.
pub const ISO_KERNEL_PATH: &str = "/boot/veridian";
/// Directory of the user-program modules inside the ISO.
pub const ISO_MODULE_DIR: &str = "/boot/modules";

/// Why a kernel command line or module list cannot go into grub.cfg.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GrubCfgError {
    #[error(
        "character {0:?} in the kernel command line cannot be passed through grub.cfg \
         (allowed: letters, digits, spaces and . _ - = : , / + @)"
    )]
    UnsafeCmdlineChar(char),
    #[error("module path {0} has no usable file name")]
    NoModuleName(PathBuf),
    #[error("module file name {0:?} must be letters, digits, '.', '_' or '-'")]
    UnsafeModuleName(String),
    #[error("two modules share the file name {0:?}; rename one")]
    DuplicateModuleName(String),
}

/// Checks that `cmdline` reaches the kernel through grub.cfg unchanged: GRUB's
/// script language would expand `$`, quotes, `;`, `#`, braces and so on.
///
/// # Errors
/// The first character outside the allowed set.
pub fn check_grub_cmdline(cmdline: &str) -> Result<(), GrubCfgError> {
    match cmdline
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == ' ' || "._-=:,/+@".contains(c)))
    {
        Some(bad) => Err(GrubCfgError::UnsafeCmdlineChar(bad)),
        None => Ok(()),
    }
}

/// The in-ISO names of `modules`: their file names, which must be simple and unique.
///
/// # Errors
/// A path without a file name, a name with unsafe characters, or a duplicate.
pub fn module_names(modules: &[PathBuf]) -> Result<Vec<String>, GrubCfgError> {
    let mut seen = BTreeSet::new();
    modules
        .iter()
        .map(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| GrubCfgError::NoModuleName(path.clone()))?;
            if name.is_empty()
                || name.starts_with('.')
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                return Err(GrubCfgError::UnsafeModuleName(name.to_owned()));
            }
            if !seen.insert(name.to_owned()) {
                return Err(GrubCfgError::DuplicateModuleName(name.to_owned()));
            }
            Ok(name.to_owned())
        })
        .collect()
}

/// The grub.cfg text: serial console, no menu delay, Multiboot2 kernel + modules.
///
/// # Errors
/// As [`check_grub_cmdline`].
pub fn render_grub_cfg(cmdline: &str, module_names: &[String]) -> Result<String, GrubCfgError> {
    check_grub_cmdline(cmdline)?;
    let mut cfg = String::from(
        "serial --unit=0 --speed=115200\n\
         terminal_input serial\n\
         terminal_output serial\n\
         set timeout=0\n",
    );
    let cmdline = cmdline.split_whitespace().collect::<Vec<_>>().join(" ");
    let separator = if cmdline.is_empty() { "" } else { " " };
    // Writing to a String cannot fail.
    let _ = writeln!(cfg, "multiboot2 {ISO_KERNEL_PATH}{separator}{cmdline}");
    for name in module_names {
        let _ = writeln!(cfg, "module2 {ISO_MODULE_DIR}/{name} {name}");
    }
    cfg.push_str("boot\n");
    Ok(cfg)
}

/// What goes into an ISO.
#[derive(Debug, Clone)]
pub struct IsoRequest<'a> {
    pub kernel: &'a Path,
    pub out: &'a Path,
    pub cmdline: &'a str,
    pub modules: &'a [PathBuf],
}

/// Builds the ISO with `grub-mkrescue`.
///
/// # Errors
/// A missing kernel/module/tool/GRUB platform, a bad command line, or a
/// failing `grub-mkrescue` (its output is included).
pub fn build_iso(request: &IsoRequest<'_>) -> anyhow::Result<()> {
    ensure!(
        request.kernel.is_file(),
        "kernel ELF not found at {} (build it: cargo build -p kernel --release --target x86_64-unknown-none)",
        request.kernel.display()
    );
    let names = module_names(request.modules)?;
    let cfg = render_grub_cfg(request.cmdline, &names)?;
    check_iso_tools()?;

    let staging = tempfile::tempdir().context("creating the ISO staging directory")?;
    let boot_dir = staging.path().join("boot");
    fs::create_dir_all(boot_dir.join("grub"))?;
    fs::create_dir_all(boot_dir.join("modules"))?;
    copy(request.kernel, &boot_dir.join("veridian"))?;
    for (path, name) in request.modules.iter().zip(&names) {
        copy(path, &boot_dir.join("modules").join(name))?;
    }
    fs::write(boot_dir.join("grub").join("grub.cfg"), cfg)?;

    if let Some(parent) = request.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let output = Command::new("grub-mkrescue")
        .arg("-o")
        .arg(request.out)
        .arg(staging.path())
        .output()
        .context("running grub-mkrescue")?;
    if !output.status.success() {
        bail!(
            "grub-mkrescue failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::copy(from, to)
        .with_context(|| format!("copying {} into the ISO", from.display()))
        .map(drop)
}

/// GRUB platform directories `grub-mkrescue` needs for a BIOS + UEFI ISO,
/// with the Debian package providing each.
const GRUB_PLATFORMS: [(&str, &str); 2] = [
    ("/usr/lib/grub/i386-pc", "grub-pc-bin"),
    ("/usr/lib/grub/x86_64-efi", "grub-efi-amd64-bin"),
];

/// Host programs the ISO build runs, with the Debian package providing each.
const ISO_PROGRAMS: [(&str, &str); 3] = [
    ("grub-mkrescue", "grub-common"),
    ("xorriso", "xorriso"),
    ("mformat", "mtools"),
];

fn check_iso_tools() -> anyhow::Result<()> {
    let mut missing: Vec<&str> = ISO_PROGRAMS
        .iter()
        .filter(|(program, _)| find_on_path(program).is_none())
        .map(|&(_, package)| package)
        .collect();
    missing.extend(
        GRUB_PLATFORMS
            .iter()
            .filter(|(dir, _)| !Path::new(dir).is_dir())
            .map(|&(_, package)| package),
    );
    ensure!(
        missing.is_empty(),
        "ISO tools missing; install them with: apt-get install -y {} (scripts/iso.sh does this)",
        missing.join(" ")
    );
    Ok(())
}

/// The first executable named `program` on `PATH`.
#[must_use]
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Directories distributions install OVMF into.
pub const OVMF_DIRS: [&str; 4] = [
    "/usr/share/OVMF",
    "/usr/share/ovmf",
    "/usr/share/edk2/ovmf",
    "/usr/share/edk2-ovmf/x64",
];

/// Finds OVMF in `dirs`: a matching CODE/VARS pair (4M first), else a combined
/// `OVMF.fd`. `vars` in the result is the pristine template; copy it before use.
#[must_use]
pub fn find_ovmf(dirs: &[&Path], exists: impl Fn(&Path) -> bool) -> Option<UefiFirmware> {
    const PAIRS: [(&str, &str); 2] = [
        ("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"),
        ("OVMF_CODE.fd", "OVMF_VARS.fd"),
    ];
    let split = dirs.iter().find_map(|dir| {
        PAIRS.iter().find_map(|(code, vars)| {
            let (code, vars) = (dir.join(code), dir.join(vars));
            (exists(&code) && exists(&vars)).then_some(UefiFirmware::Split { code, vars })
        })
    });
    split.or_else(|| {
        dirs.iter()
            .map(|dir| dir.join("OVMF.fd"))
            .find(|combined| exists(combined))
            .map(UefiFirmware::Combined)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_cfg_boots_multiboot2_on_serial_without_delay() {
        let cfg = render_grub_cfg("run=test  cpus=4", &["echo-server".to_owned()]).unwrap();
        assert_eq!(
            cfg,
            "serial --unit=0 --speed=115200\n\
             terminal_input serial\n\
             terminal_output serial\n\
             set timeout=0\n\
             multiboot2 /boot/veridian run=test cpus=4\n\
             module2 /boot/modules/echo-server echo-server\n\
             boot\n"
        );
        let bare = render_grub_cfg("", &[]).unwrap();
        assert!(
            bare.ends_with("set timeout=0\nmultiboot2 /boot/veridian\nboot\n"),
            "{bare}"
        );
    }

    #[test]
    fn grub_cfg_rejects_script_characters() {
        assert_eq!(
            check_grub_cmdline("run=boot bench=ipc,sched test.fault=pf"),
            Ok(())
        );
        for (cmdline, bad) in [
            ("a=$x", '$'),
            ("a=1;reboot", ';'),
            ("a=\"b\"", '"'),
            ("a=1\nb", '\n'),
        ] {
            assert_eq!(
                render_grub_cfg(cmdline, &[]),
                Err(GrubCfgError::UnsafeCmdlineChar(bad))
            );
        }
    }

    #[test]
    fn module_names_are_simple_and_unique() {
        let names = module_names(&[PathBuf::from("target/x/ping"), PathBuf::from("pong.elf")]);
        assert_eq!(names, Ok(vec!["ping".to_owned(), "pong.elf".to_owned()]));
        assert_eq!(
            module_names(&[PathBuf::from("a/ping"), PathBuf::from("b/ping")]),
            Err(GrubCfgError::DuplicateModuleName("ping".into()))
        );
        assert_eq!(
            module_names(&[PathBuf::from("a/my prog")]),
            Err(GrubCfgError::UnsafeModuleName("my prog".into()))
        );
        assert_eq!(
            module_names(&[PathBuf::from("/")]),
            Err(GrubCfgError::NoModuleName(PathBuf::from("/")))
        );
    }

    #[test]
    fn ovmf_prefers_4m_pairs_then_plain_pairs_then_combined() {
        let debian = [
            "/usr/share/OVMF/OVMF_CODE.fd",
            "/usr/share/OVMF/OVMF_VARS.fd",
            "/usr/share/OVMF/OVMF_CODE_4M.fd",
            "/usr/share/OVMF/OVMF_VARS_4M.fd",
            "/usr/share/ovmf/OVMF.fd",
        ];
        let dirs = OVMF_DIRS.map(Path::new);
        let found = find_ovmf(&dirs, |p| debian.iter().any(|d| Path::new(d) == p));
        assert_eq!(
            found,
            Some(UefiFirmware::Split {
                code: PathBuf::from("/usr/share/OVMF/OVMF_CODE_4M.fd"),
                vars: PathBuf::from("/usr/share/OVMF/OVMF_VARS_4M.fd"),
            })
        );
        let code_only = find_ovmf(&dirs, |p| {
            p == Path::new("/usr/share/OVMF/OVMF_CODE.fd")
                || p == Path::new("/usr/share/ovmf/OVMF.fd")
        });
        assert_eq!(
            code_only,
            Some(UefiFirmware::Combined(PathBuf::from(
                "/usr/share/ovmf/OVMF.fd"
            )))
        );
        assert_eq!(find_ovmf(&dirs, |_| false), None);
    }
}
