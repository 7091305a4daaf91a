//! Tests of the QEMU argv for each accelerator, boot medium and NUMA layout.

use super::*;

fn mem(text: &str) -> MemSize {
    text.parse().expect("test sizes are valid")
}

fn pvh_spec() -> MachineSpec {
    MachineSpec {
        cpus: 2,
        mem: mem("512M"),
        numa_nodes: None,
        accel: Accel::Tcg,
        boot: BootMedium::Pvh {
            kernel: PathBuf::from("target/x86_64-unknown-none/release/veridian"),
        },
        cmdline: "run=boot".to_owned(),
        gdb: false,
    }
}

fn argv(spec: &MachineSpec) -> String {
    qemu_args(spec).expect("valid spec").join(" ")
}

#[test]
fn pvh_tcg_is_the_plain_machine() {
    assert_eq!(
        argv(&pvh_spec()),
        "-machine q35 -accel tcg -cpu max -smp 2 -m 512M -nodefaults -display none \
         -monitor none -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
         -kernel target/x86_64-unknown-none/release/veridian -append run=boot"
    );
}

#[test]
fn cmdline_stays_one_argument_and_empty_cmdline_is_left_out() {
    let mut spec = pvh_spec();
    spec.cmdline = "run=test test.fault=pf".to_owned();
    let args = qemu_args(&spec).unwrap();
    assert_eq!(
        args.last().map(String::as_str),
        Some("run=test test.fault=pf")
    );
    spec.cmdline = "  ".to_owned();
    assert!(!qemu_args(&spec).unwrap().contains(&"-append".to_owned()));
}

#[test]
fn each_accelerator_selects_its_cpu_model() {
    let mut spec = pvh_spec();
    spec.accel = Accel::Icount;
    assert!(
        argv(&spec)
            .starts_with("-machine q35 -accel tcg -icount shift=0,align=off -cpu max -smp 2")
    );
    spec.accel = Accel::Kvm {
        cpu_model: "host".to_owned(),
    };
    assert!(argv(&spec).starts_with("-machine q35 -accel kvm -cpu host -smp 2"));
    spec.accel = Accel::Kvm {
        cpu_model: "host,-arch-capabilities".to_owned(),
    };
    assert!(argv(&spec).contains("-accel kvm -cpu host,-arch-capabilities "));
}

#[test]
fn numa_splits_cpus_memory_and_distances_evenly() {
    let mut spec = pvh_spec();
    spec.cpus = 4;
    spec.mem = mem("1G");
    spec.numa_nodes = Some(2);
    let text = argv(&spec);
    assert!(
        text.contains(
            "-smp 4,sockets=2,cores=2,threads=1 \
             -object memory-backend-ram,size=512M,id=m0 -numa node,nodeid=0,cpus=0-1,memdev=m0 \
             -object memory-backend-ram,size=512M,id=m1 -numa node,nodeid=1,cpus=2-3,memdev=m1 \
             -numa dist,src=0,dst=0,val=10 -numa dist,src=0,dst=1,val=20 \
             -numa dist,src=1,dst=0,val=20 -numa dist,src=1,dst=1,val=10 -m 1G "
        ),
        "{text}"
    );
}

#[test]
fn numa_with_one_cpu_per_node_names_single_cpus() {
    let layout = numa_layout(4, mem("512M"), 4).unwrap();
    assert_eq!(layout.len(), 4);
    assert_eq!(
        layout[3],
        NumaNode {
            id: 3,
            first_cpu: 3,
            last_cpu: 3,
            mem: mem("128M")
        }
    );
    let mut spec = pvh_spec();
    spec.cpus = 4;
    spec.numa_nodes = Some(4);
    assert!(argv(&spec).contains("-numa node,nodeid=3,cpus=3,memdev=m3 "));
}

#[test]
fn uneven_numa_splits_are_clear_errors() {
    assert_eq!(
        numa_layout(3, mem("512M"), 2),
        Err(MachineError::CpusNotDivisible { cpus: 3, nodes: 2 })
    );
    assert_eq!(
        numa_layout(3, mem("512M"), 2).unwrap_err().to_string(),
        "3 CPUs do not divide evenly into 2 NUMA nodes"
    );
    assert_eq!(
        numa_layout(3, mem("100M"), 3),
        Err(MachineError::MemNotDivisible {
            mem: mem("100M"),
            nodes: 3
        })
    );
    assert_eq!(
        numa_layout(2, mem("1M"), 2).unwrap_err().to_string(),
        "1M of memory does not divide evenly into 2 NUMA nodes of whole MiB"
    );
    assert_eq!(numa_layout(0, mem("1G"), 1), Err(MachineError::NoCpus));
    assert_eq!(numa_layout(2, mem("1G"), 0), Err(MachineError::NoNumaNodes));
    let mut spec = pvh_spec();
    spec.cpus = 3;
    spec.numa_nodes = Some(2);
    assert!(qemu_args(&spec).is_err());
    assert_eq!(validate(0, mem("1G"), None), Err(MachineError::NoCpus));
    assert_eq!(validate(4, mem("1G"), Some(2)), Ok(()));
}

#[test]
fn iso_bios_boots_the_cdrom_without_kernel_or_append() {
    let mut spec = pvh_spec();
    spec.boot = BootMedium::IsoBios {
        iso: PathBuf::from("target/veridian-run/last-boot.iso"),
    };
    let text = argv(&spec);
    assert!(text.ends_with("-no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 -cdrom target/veridian-run/last-boot.iso -boot d"), "{text}");
    assert!(!text.contains("-kernel") && !text.contains("-append"));
}

#[test]
fn iso_uefi_maps_ovmf_code_read_only_and_vars_writable() {
    let mut spec = pvh_spec();
    spec.boot = BootMedium::IsoUefi {
        iso: PathBuf::from("a.iso"),
        firmware: UefiFirmware::Split {
            code: PathBuf::from("/usr/share/OVMF/OVMF_CODE_4M.fd"),
            vars: PathBuf::from("/tmp/vars,copy.fd"),
        },
    };
    assert!(argv(&spec).ends_with(
        "-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
         -drive if=pflash,format=raw,unit=1,file=/tmp/vars,,copy.fd -cdrom a.iso -boot d"
    ));
    spec.boot = BootMedium::IsoUefi {
        iso: PathBuf::from("a.iso"),
        firmware: UefiFirmware::Combined(PathBuf::from("/usr/share/ovmf/OVMF.fd")),
    };
    assert!(argv(&spec).ends_with("-bios /usr/share/ovmf/OVMF.fd -cdrom a.iso -boot d"));
}

#[test]
fn gdb_stops_at_reset_and_listens_on_1234() {
    let mut spec = pvh_spec();
    spec.gdb = true;
    assert!(argv(&spec).ends_with("-append run=boot -s -S"));
}

#[test]
fn non_utf8_paths_are_rejected() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let mut spec = pvh_spec();
    spec.boot = BootMedium::Pvh {
        kernel: PathBuf::from(OsStr::from_bytes(b"bad\xff")),
    };
    assert!(matches!(
        qemu_args(&spec),
        Err(MachineError::NonUtf8Path(_))
    ));
}
