//! The vnetcrypt appliance kernel: boots through PVH or multiboot2, sets up the CPU,
//! memory, clocks and RNG, finds its devices, and runs the node (`vnetcrypt-node`)
//! and the serial console in the main loop.
#![no_std]
#![no_main]

extern crate alloc;

mod arch;
mod boot_info;
mod clock;
mod console;
mod devices;
mod disk;
mod heap;
mod idle;
mod igb;
mod logger;
mod main_loop;
mod platform;
mod rng;
mod virtio;

use vnetcrypt_bootinfo::{heap_span, MemoryKind};

/// The heap stays below 3 GiB: the boot mapping makes 3..4 GiB uncached for devices.
const HEAP_LIMIT: u64 = 3 << 30;

#[no_mangle]
extern "C" fn kernel_main(magic: u32, info: u32, entry_tsc: u64) -> ! {
    arch::gdt::init();
    arch::idt::init();
    arch::paging::install_stack_guard();
    let mut cpu = arch::cpu::features();
    cpu.avx = arch::cpu::enable_avx(&cpu);
    let calibration = clock::init(entry_tsc);
    let com2 = logger::init();
    defmt::info!(
        "vnetcrypt {=str} booting; defmt on COM2: {=bool}",
        console::VERSION,
        com2
    );
    defmt::info!(
        "TSC {=u64} Hz from {=?} (invariant TSC: {=bool})",
        clock::tsc_hz(),
        defmt::Debug2Format(&calibration),
        cpu.tsc_invariant
    );

    let boot = boot_info::read(magic, info);
    defmt::info!(
        "boot protocol {=str}, command line: {=str}",
        boot.protocol,
        boot.cmdline.as_str()
    );
    let (kernel_start, kernel_end) = arch::boot::kernel_image();
    let mem_total: u64 = boot
        .regions()
        .filter(|r| r.kind == MemoryKind::Usable)
        .map(|r| r.len)
        .sum();
    let span = heap_span(
        boot.regions(),
        kernel_end.max(boot.loader_end),
        HEAP_LIMIT,
        4096,
    )
    .expect("no usable RAM above the kernel for the heap");
    // SAFETY: the span is usable RAM per the memory map, above the kernel image and the
    // loader's data, inside the identity mapping, and given to the allocator only once.
    unsafe { heap::init(span) };
    defmt::info!(
        "RAM {=u64} KiB usable; heap {=u64:#x}..{=u64:#x} ({=u64} KiB)",
        mem_total / 1024,
        span.start,
        span.end,
        heap::size() / 1024
    );

    match rng::init(&cpu) {
        Some(source) => defmt::info!("CSPRNG seeded from {=str}", source),
        None => defmt::warn!("no RDSEED/RDRAND: CSPRNG unavailable, key generation refused"),
    }
    let found = devices::discover(&boot.cmdline);
    defmt::info!(
        "{=str}: {=usize} devices",
        found.machine,
        found.devices.len()
    );

    let virtio_devices = virtio::transports(&found.virtio);
    for d in &virtio_devices {
        defmt::info!(
            "virtio {} at {=str}",
            defmt::Debug2Format(&d.kind),
            d.location.as_str()
        );
    }

    let machine = alloc::format!("{}, {} boot", found.machine, boot.protocol);
    let app = console::Appliance {
        machine: &machine,
        devices: &found.devices,
        cpu,
        mem_total,
        kernel_bytes: kernel_end - kernel_start,
    };
    // `net.trace` on the command line logs every frame (pcap-style) to COM2;
    // `net.bridge` (tests) passes transit frames between the NICs unchanged.
    let options = vnetcrypt_node::Options {
        trace: boot.cmdline.get("net.trace").is_some(),
        bridge: boot.cmdline.get("net.bridge").is_some(),
    };
    let (mut ports, mut other_virtio) = virtio::net::ports(virtio_devices);
    // igb VFs (passed through, or made by the test rig `igb.rig=wan|lan`).
    for (slot, place) in igb::ports(&boot.cmdline, &found.functions) {
        match place {
            igb::Place::First => ports.insert(0, slot),
            igb::Place::Last => ports.push(slot),
        }
    }
    let disks = disk::take_all(&mut other_virtio);
    // After the drivers' set-up: routing programs the NICs' MSI-X queue vectors.
    let idle_mode = idle::init(&boot.cmdline);
    defmt::info!("idle: {}", defmt::Debug2Format(&idle_mode));
    main_loop::run(&app, ports, disks, options, entry_tsc)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    arch::exceptions::panic_report(info)
}
