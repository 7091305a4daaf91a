//! Tests for the ACPI parsers and the topology: builders for hand-made tables
//! in the layouts QEMU produces, and the test modules that use them.

mod tables;
mod topology;

/// A table with `signature`, `revision` and `body`, with a valid length and
/// checksum.
pub(super) fn sdt(signature: &[u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
    let mut table = Vec::new();
    table.extend_from_slice(signature);
    table.extend_from_slice(&(36 + body.len() as u32).to_le_bytes());
    table.extend_from_slice(&[revision, 0]);
    table.extend_from_slice(b"VERIDN");
    table.extend_from_slice(b"VERITEST");
    table.extend_from_slice(&1u32.to_le_bytes());
    table.extend_from_slice(b"VRDN");
    table.extend_from_slice(&1u32.to_le_bytes());
    table.extend_from_slice(body);
    fix_checksum(&mut table);
    table
}

/// Sets the checksum byte (offset 9) so that the table sums to zero.
pub(super) fn fix_checksum(table: &mut [u8]) {
    table[9] = 0;
    let sum = table.iter().fold(0u8, |sum, byte| sum.wrapping_add(*byte));
    table[9] = 0u8.wrapping_sub(sum);
}

/// `table` cut to `len` bytes with its length field and checksum made to
/// agree, so parsing gets past the header into the entries.
pub(super) fn consistently_truncated(table: &[u8], len: usize) -> Vec<u8> {
    let mut cut = table[..len].to_vec();
    if len >= 10 {
        cut[4..8].copy_from_slice(&(len as u32).to_le_bytes());
        fix_checksum(&mut cut);
    }
    cut
}

pub(super) fn le16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}
pub(super) fn le32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}
pub(super) fn le64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// MADT entry type 0.
pub(super) fn madt_lapic(uid: u8, apic_id: u8, flags: u32) -> Vec<u8> {
    let mut entry = vec![0, 8, uid, apic_id];
    le32(&mut entry, flags);
    entry
}

/// MADT entry type 9.
pub(super) fn madt_x2apic(x2apic_id: u32, flags: u32, uid: u32) -> Vec<u8> {
    let mut entry = vec![9, 16, 0, 0];
    le32(&mut entry, x2apic_id);
    le32(&mut entry, flags);
    le32(&mut entry, uid);
    entry
}

/// An MADT as QEMU's q35 builds it for `-smp <cpus>`: LAPICs (x2APIC entries
/// for APIC ids above 254), the IOAPIC, the ISA overrides, LINT1 NMI.
pub(super) fn q35_madt(cpus: u32) -> Vec<u8> {
    let mut body = Vec::new();
    le32(&mut body, 0xfee0_0000);
    le32(&mut body, 1);
    for cpu in 0..cpus {
        if cpu < 255 {
            body.extend(madt_lapic(cpu as u8, cpu as u8, 1));
        } else {
            body.extend(madt_x2apic(cpu, 1, cpu));
        }
    }
    body.extend([1, 12, 0, 0]);
    le32(&mut body, 0xfec0_0000);
    le32(&mut body, 0);
    for (source, gsi, flags) in [
        (0u8, 2u32, 0u16),
        (5, 5, 0xd),
        (9, 9, 0xd),
        (10, 10, 0xd),
        (11, 11, 0xd),
    ] {
        body.extend([2, 10, 0, source]);
        le32(&mut body, gsi);
        le16(&mut body, flags);
    }
    body.extend([4, 6, 0xff, 0, 0, 1]);
    sdt(b"APIC", 1, &body)
}

/// SRAT entry type 0 (revision-1 layout: the high domain bytes stay 0).
pub(super) fn srat_cpu(domain: u8, apic_id: u8, flags: u32) -> Vec<u8> {
    let mut entry = vec![0, 16, domain, apic_id];
    le32(&mut entry, flags);
    entry.extend([0; 8]);
    entry
}

/// SRAT entry type 1.
pub(super) fn srat_memory(domain: u32, base: u64, length: u64, flags: u32) -> Vec<u8> {
    let mut entry = vec![1, 40];
    le32(&mut entry, domain);
    le16(&mut entry, 0);
    le64(&mut entry, base);
    le64(&mut entry, length);
    le32(&mut entry, 0);
    le32(&mut entry, flags);
    le64(&mut entry, 0);
    entry
}

/// SRAT entry type 2.
pub(super) fn srat_x2apic(domain: u32, x2apic_id: u32, flags: u32) -> Vec<u8> {
    let mut entry = vec![2, 24, 0, 0];
    le32(&mut entry, domain);
    le32(&mut entry, x2apic_id);
    le32(&mut entry, flags);
    le32(&mut entry, 0);
    le32(&mut entry, 0);
    entry
}

/// An SRAT with the given entries.
pub(super) fn srat(revision: u8, entries: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::new();
    le32(&mut body, 1);
    le64(&mut body, 0);
    for entry in entries {
        body.extend(entry);
    }
    sdt(b"SRAT", revision, &body)
}

/// The SRAT QEMU builds for `-m 4G -smp 4 -numa node,cpus=0-1,mem=2G
/// -numa node,cpus=2-3,mem=2G` on q35: memory below 640K and from 1M in node
/// 0, node 1 split around the PCI hole (2G-3G, then 4G-5G), and a disabled
/// empty entry.
pub(super) fn q35_srat_two_nodes() -> Vec<u8> {
    const G: u64 = 1 << 30;
    srat(
        1,
        &[
            srat_cpu(0, 0, 1),
            srat_cpu(0, 1, 1),
            srat_cpu(1, 2, 1),
            srat_cpu(1, 3, 1),
            srat_memory(0, 0, 0xa_0000, 1),
            srat_memory(0, 0x10_0000, 2 * G - 0x10_0000, 1),
            srat_memory(1, 2 * G, G, 1),
            srat_memory(1, 4 * G, G, 1),
            srat_memory(0, 0, 0, 0),
        ],
    )
}

/// A SLIT with `count` localities and the row-major `matrix`.
pub(super) fn slit(count: u64, matrix: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    le64(&mut body, count);
    body.extend_from_slice(matrix);
    sdt(b"SLIT", 1, &body)
}
