//! Intel 82576 (igb) virtual functions as NICs, and the test rig that makes one
//! under QEMU.
//!
//! A VF the machine shows with its own ids (8086:10ca, as a hypervisor passes one
//! through) is driven directly. The rig (`igb.rig=wan|lan` on the command line, set
//! by the launcher's `--nic …,model=igb`) plays the host's part first: it finds the
//! PF (8086:10c9), sets up its switch, enables one VF through the PF's SR-IOV
//! capability, gives the VF's BARs addresses, and answers the VF's mailbox while the
//! VF resets. In a cloud the PF belongs to the host: only the VF driver ships.

mod ecam;
mod port;

use crate::arch::interrupts::{allocate_msi, source};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use ecam::Ecam;
use port::{VfPort, RING_LEN, RX_ROOM};
use spin::Mutex;
use vnetcrypt_bootinfo::Cmdline;
use vnetcrypt_drivers::igb::pf::Pf;
use vnetcrypt_drivers::igb::vf::Vf;
use vnetcrypt_drivers::igb::MmioRegs;
use vnetcrypt_drivers::pci::{PciAddress, PciFunction};
use vnetcrypt_node::packet::MAX_FRAME;
use vnetcrypt_node::PortSlot;

const INTEL: u16 = 0x8086;
const IGB_PF: u16 = 0x10c9;
const IGB_VF: u16 = 0x10ca;
/// SR-IOV extended capability (PCIe base spec 9.3.3).
const CAP_SRIOV: u16 = 0x0010;
const CAP_MSIX: u8 = 0x11;
const SRIOV_CTRL: u16 = 0x08;
const SRIOV_CTRL_VFE: u32 = 1 << 0;
const SRIOV_CTRL_MSE: u32 = 1 << 3;
const SRIOV_NUM_VFS: u16 = 0x10;
const SRIOV_OFFSET_STRIDE: u16 = 0x14;
const SRIOV_VF_BAR0: u16 = 0x24;
const CMD_MEMORY: u32 = 1 << 1;
const CMD_BUS_MASTER: u32 = 1 << 2;
/// The VF's register window (BAR0) and MSI-X table window (BAR3) are 16 KiB each.
const VF_BAR_SIZE: u64 = 16 << 10;
/// How long the rig waits for the link after restarting autonegotiation (QEMU's
/// takes 500 ms).
const LINK_WAIT_US: u64 = 2_000_000;
/// The lowest address the rig gives VF BARs: q35's PCI window starts above ECAM.
const PCI_WINDOW_START: u64 = 0xc000_0000;

/// Where the port goes among the NICs: the first (`wan`) or after the others (`lan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    First,
    Last,
}

/// The VF's MSI-X capability and table, for [`route_interrupts`].
#[derive(Debug, Clone, Copy)]
struct Msix {
    function: PciAddress,
    cap: u16,
    table: u64,
}

static MSIX: Mutex<Vec<Msix>> = Mutex::new(Vec::new());

fn location(f: PciAddress) -> String {
    format!("pci {:02x}:{:02x}.{}, igbvf", f.bus, f.device, f.function)
}

/// Brings up igb VFs as ports: passed-through VFs among `functions`, and with
/// `igb.rig=…` one VF of the first PF. Each port comes with where it goes.
pub fn ports(cmdline: &Cmdline<'_>, functions: &[PciFunction]) -> Vec<(PortSlot, Place)> {
    let mut out = Vec::new();
    let Some(ecam) = Ecam::q35() else {
        if functions
            .iter()
            .any(|f| f.vendor == INTEL && f.device == IGB_VF)
        {
            defmt::warn!("igbvf: no PCIe configuration window; VF not used");
        }
        return out;
    };
    for f in functions
        .iter()
        .filter(|f| f.vendor == INTEL && f.device == IGB_VF)
    {
        if let Some(port) = bring_up(&ecam, f.addr, None) {
            out.push((port, Place::Last));
        }
    }
    let place = match cmdline.get("igb.rig") {
        Some(Some("wan")) => Place::First,
        Some(_) => Place::Last,
        None => return out,
    };
    let Some(pf) = functions
        .iter()
        .find(|f| f.vendor == INTEL && f.device == IGB_PF)
    else {
        defmt::warn!("igb.rig: no igb PF (8086:10c9) on the bus");
        return out;
    };
    match rig(&ecam, pf.addr) {
        Some(port) => out.insert(0, (port, place)),
        None => defmt::error!("igb.rig: the VF did not come up"),
    }
    out
}

/// Memory BAR `index` (0..5) of `f`: its address if assigned below 4 GiB.
fn bar(ecam: &Ecam, f: PciAddress, index: u16) -> Option<u64> {
    let v = ecam.read(f, 0x10 + 4 * index);
    if v & 1 != 0 {
        return None;
    }
    let high = if (v >> 1) & 3 == 2 {
        ecam.read(f, 0x14 + 4 * index)
    } else {
        0
    };
    let addr = u64::from(v & !0xf);
    (high == 0 && addr != 0).then_some(addr)
}

/// The lowest memory BAR or bridge window address at or above the PCI window start
/// among bus 0's functions: the firmware packs BARs and bridge windows at the
/// window's top, so below it is free (everything behind a bridge lies in its window).
fn lowest_bar(ecam: &Ecam) -> u64 {
    let mut lowest = 0xfec0_0000u64;
    for device in 0..32u8 {
        for function in 0..8u8 {
            let f = PciAddress {
                bus: 0,
                device,
                function,
            };
            if ecam.read(f, 0) as u16 == 0xffff {
                continue;
            }
            let bridge = (ecam.read(f, 0x0c) >> 16) & 0x7f == 1;
            // A bridge has two BARs and forwards memory windows (0x20: non-prefetchable,
            // 0x24: prefetchable, base in the low half, 1 MiB granular); an empty
            // window has its base above its limit.
            for i in 0..if bridge { 2 } else { 6 } {
                if let Some(a) = bar(ecam, f, i).filter(|a| *a >= PCI_WINDOW_START) {
                    lowest = lowest.min(a);
                }
            }
            if bridge {
                for reg in [0x20, 0x24] {
                    let w = ecam.read(f, reg);
                    let (base, limit) = (
                        u64::from(w & 0xfff0) << 16,
                        u64::from(w >> 16 & 0xfff0) << 16,
                    );
                    if base <= limit && base >= PCI_WINDOW_START {
                        lowest = lowest.min(base);
                    }
                }
            }
        }
    }
    lowest
}

/// Enables VF 0 of the PF at `pf`, answers its reset, and returns it as a port.
fn rig(ecam: &Ecam, pf: PciAddress) -> Option<PortSlot> {
    let Some(pf_bar) = bar(ecam, pf, 0) else {
        defmt::warn!("igb.rig: PF BAR0 not assigned");
        return None;
    };
    let Some(sriov) = ecam.extended_capability(pf, CAP_SRIOV) else {
        defmt::warn!("igb.rig: the PF has no SR-IOV capability");
        return None;
    };
    let command = ecam.read(pf, 0x04);
    ecam.write(pf, 0x04, (command & 0xffff) | CMD_MEMORY | CMD_BUS_MASTER);
    // SAFETY: BAR0 of the igb PF, 128 KiB of registers, inside the identity mapping
    // (below 4 GiB); only the rig drives the PF, and only during boot.
    let mut pf_regs = unsafe { MmioRegs::new(pf_bar, 128 << 10) };
    // The VF gets the PF's own address (QEMU's `-device igb,mac=…`): receive address
    // 0. The PF itself takes no traffic, so nothing else answers to it.
    let ral = vnetcrypt_drivers::igb::Regs::read(&mut pf_regs, 0x5400).to_le_bytes();
    let rah = vnetcrypt_drivers::igb::Regs::read(&mut pf_regs, 0x5404).to_le_bytes();
    let mac = [ral[0], ral[1], ral[2], ral[3], rah[0], rah[1]];
    let mut pf_dev = Pf::new(pf_regs, 1, MAX_FRAME as u32);
    pf_dev.assign_mac(0, mac);
    if !pf_dev.link_up() {
        pf_dev.restart_link();
    }

    // VF BARs: below the firmware's lowest BAR, BAR0s then BAR3s, 1 MiB for both.
    let window = (lowest_bar(ecam) & !0xf_ffff).checked_sub(1 << 20)?;
    if window < PCI_WINDOW_START {
        defmt::warn!("igb.rig: no room for the VF BARs");
        return None;
    }
    let (vf_bar0, vf_bar3) = (window, window + (512 << 10));
    ecam.write(pf, sriov + SRIOV_CTRL, 0);
    ecam.write(pf, sriov + SRIOV_VF_BAR0, vf_bar0 as u32);
    ecam.write(pf, sriov + SRIOV_VF_BAR0 + 4, 0);
    ecam.write(pf, sriov + SRIOV_VF_BAR0 + 12, vf_bar3 as u32);
    ecam.write(pf, sriov + SRIOV_VF_BAR0 + 16, 0);
    let num = ecam.read(pf, sriov + SRIOV_NUM_VFS);
    ecam.write(pf, sriov + SRIOV_NUM_VFS, (num & 0xffff_0000) | 1);
    ecam.write(pf, sriov + SRIOV_CTRL, SRIOV_CTRL_VFE | SRIOV_CTRL_MSE);
    let offset_stride = ecam.read(pf, sriov + SRIOV_OFFSET_STRIDE);
    let routing = u16::from(pf.bus) << 8 | u16::from(pf.device) << 3 | u16::from(pf.function);
    let vf_rid = routing.checked_add(offset_stride as u16)?;
    let vf = PciAddress {
        bus: (vf_rid >> 8) as u8,
        device: ((vf_rid >> 3) & 0x1f) as u8,
        function: (vf_rid & 7) as u8,
    };
    defmt::info!(
        "igb.rig: PF {=u8:02x}:{=u8:02x}.{=u8}, VF 0 at {=u8:02x}:{=u8:02x}.{=u8}, BARs {=u64:#x} {=u64:#x}",
        pf.bus,
        pf.device,
        pf.function,
        vf.bus,
        vf.device,
        vf.function,
        vf_bar0,
        vf_bar3
    );
    bring_up(ecam, vf, Some((&mut pf_dev, vf_bar0)))
}

/// Resets the VF at `f` and sets up its queues; with the rig, `pf` answers its
/// mailbox and gives BAR0's address (a VF's BAR registers read as zero: they live in
/// the PF's SR-IOV capability).
fn bring_up(ecam: &Ecam, f: PciAddress, rig: Option<(&mut Pf<MmioRegs>, u64)>) -> Option<PortSlot> {
    let (mut pf, bar0) = match rig {
        Some((pf, bar0)) => (Some(pf), Some(bar0)),
        None => (None, bar(ecam, f, 0)),
    };
    let Some(bar0) = bar0 else {
        defmt::warn!("igbvf: BAR0 not assigned");
        return None;
    };
    if !crate::arch::paging::is_mapped(bar0, VF_BAR_SIZE) {
        defmt::warn!("igbvf: BAR0 outside the identity mapping");
        return None;
    }
    let command = ecam.read(f, 0x04);
    ecam.write(f, 0x04, (command & 0xffff) | CMD_MEMORY | CMD_BUS_MASTER);
    // SAFETY: BAR0 of an igb VF (16 KiB of registers), identity-mapped (checked);
    // this port is the only driver of the function from now on.
    let regs = unsafe { MmioRegs::new(bar0, VF_BAR_SIZE as u32) };
    let bus = |p: *const u8, len: usize| crate::virtio::hal::phys_of(p, len);
    let mut wait = || {
        if let Some(pf) = pf.as_mut() {
            pf.serve();
        }
        let until = crate::clock::uptime_us() + 10;
        while crate::clock::uptime_us() < until {
            core::hint::spin_loop();
        }
    };
    let mut vf = match Vf::new(regs, RING_LEN, RX_ROOM, &bus, &mut wait) {
        Ok(vf) => vf,
        Err(e) => {
            defmt::error!(
                "igbvf {=u8:02x}:{=u8:02x}.{=u8}: {}",
                f.bus,
                f.device,
                f.function,
                defmt::Display2Format(&e)
            );
            return None;
        }
    };
    let mut link = vf.link_up();
    if pf.is_some() {
        // The rig restarted the PHY's autonegotiation: wait (a bounded time) for the
        // link, so that the first frames are not lost.
        let until = crate::clock::uptime_us() + LINK_WAIT_US;
        while !link && crate::clock::uptime_us() < until {
            link = vf.link_up();
        }
    }
    if let Some(cap) = ecam.capability(f, CAP_MSIX) {
        let table = ecam.read(f, cap + 4);
        // The table lies in BAR `bir`; with the rig that is BAR3's window.
        let bir = table & 7;
        let base = match (bir, rig_bar3(bar0, pf.is_some())) {
            (3, Some(b3)) => Some(b3),
            _ => bar(ecam, f, bir as u16),
        };
        if let Some(base) = base {
            vf.enable_interrupts(0);
            MSIX.lock().push(Msix {
                function: f,
                cap,
                table: base + u64::from(table & !7),
            });
        }
    }
    let mac = vf.mac();
    defmt::info!(
        "igbvf {=u8:02x}:{=u8:02x}.{=u8}: MAC {=[u8]:02x}, link {=str}",
        f.bus,
        f.device,
        f.function,
        mac,
        if link { "up" } else { "down" }
    );
    Some(PortSlot {
        port: alloc::boxed::Box::new(VfPort::new(vf)),
        location: location(f),
    })
}

/// With the rig, BAR3's window sits 512 KiB above BAR0's (see `rig`).
fn rig_bar3(bar0: u64, rig: bool) -> Option<u64> {
    rig.then_some(bar0 + (512 << 10))
}

/// Points each VF's MSI-X entry 0 at a fresh vector and enables MSI-X. Call once,
/// after `arch::interrupts::init`.
pub fn route_interrupts() {
    let Some(ecam) = Ecam::q35() else {
        return;
    };
    for m in MSIX.lock().iter() {
        let Some((address, data)) = allocate_msi(source::DEVICE) else {
            defmt::warn!("igbvf: no MSI vector left; the NIC is only polled");
            continue;
        };
        if !crate::arch::paging::is_mapped(m.table, 16) {
            continue;
        }
        // SAFETY: entry 0 of the VF's MSI-X table (16 bytes: address low/high, data,
        // vector control), inside its identity-mapped BAR; nothing else writes it.
        unsafe {
            let e = m.table as *mut u32;
            e.write_volatile(address as u32);
            e.add(1).write_volatile((address >> 32) as u32);
            e.add(2).write_volatile(data);
            e.add(3).write_volatile(0);
        }
        let control = ecam.read(m.function, m.cap);
        // Message control (upper half): enable (bit 15), function mask (bit 14) off.
        ecam.write(m.function, m.cap, (control | 1 << 31) & !(1 << 30));
    }
}
