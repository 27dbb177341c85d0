//! CPU identification, the extended state (AVX) and the instructions the clock and
//! RNG need: RDTSC, RDRAND, RDSEED.

use core::arch::asm;
use core::arch::x86_64::{__cpuid_count, CpuidResult};

fn cpuid(leaf: u32, sub: u32) -> CpuidResult {
    #[allow(unused_unsafe)]
    // SAFETY: CPUID exists on every x86-64 CPU and has no side effect.
    unsafe {
        __cpuid_count(leaf, sub)
    }
}

/// The CPU features that matter to the appliance.
#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    pub aesni: bool,
    pub pclmulqdq: bool,
    pub rdrand: bool,
    pub rdseed: bool,
    pub xsave: bool,
    pub avx: bool,
    pub avx2: bool,
    pub tsc_invariant: bool,
}

pub fn features() -> Features {
    let max = cpuid(0, 0).eax;
    let l1 = cpuid(1, 0);
    let l7 = if max >= 7 {
        cpuid(7, 0)
    } else {
        CpuidResult {
            eax: 0,
            ebx: 0,
            ecx: 0,
            edx: 0,
        }
    };
    let ext_max = cpuid(0x8000_0000, 0).eax;
    let tsc_invariant = ext_max >= 0x8000_0007 && cpuid(0x8000_0007, 0).edx & (1 << 8) != 0;
    Features {
        aesni: l1.ecx & (1 << 25) != 0,
        pclmulqdq: l1.ecx & (1 << 1) != 0,
        rdrand: l1.ecx & (1 << 30) != 0,
        rdseed: l7.ebx & (1 << 18) != 0,
        xsave: l1.ecx & (1 << 26) != 0,
        avx: l1.ecx & (1 << 28) != 0,
        avx2: l7.ebx & (1 << 5) != 0,
        tsc_invariant,
    }
}

/// Enables the AVX (and, where all of it is offered, AVX-512) register state through
/// CR4.OSXSAVE and XCR0, so that code choosing AVX at run time (`ring`) can use it.
/// Returns whether AVX is usable afterwards.
pub fn enable_avx(f: &Features) -> bool {
    if !(f.xsave && f.avx) {
        return false;
    }
    let supported = u64::from(cpuid(0xd, 0).eax) | u64::from(cpuid(0xd, 0).edx) << 32;
    let mut xcr0 = supported & 0b111; // x87, SSE, AVX
    if supported & 0xe0 == 0xe0 {
        xcr0 |= 0xe0; // opmask, ZMM_Hi256, Hi16_ZMM: all or none
    }
    // SAFETY: XSAVE is supported (checked), so CR4.OSXSAVE may be set; XCR0 is given
    // only bits CPUID leaf 0xD reports as supported, always with x87 and SSE.
    unsafe {
        asm!("mov {tmp}, cr4", "or {tmp}, {bit}", "mov cr4, {tmp}",
             tmp = out(reg) _, bit = const 1u64 << 18, options(nomem, nostack));
        asm!("xsetbv", in("ecx") 0u32, in("eax") xcr0 as u32, in("edx") (xcr0 >> 32) as u32,
             options(nomem, nostack));
    }
    xcr0 & 0b110 == 0b110
}

/// The time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: RDTSC is available at CPL 0 and only reads the counter.
    unsafe {
        asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    u64::from(hi) << 32 | u64::from(lo)
}

/// One RDSEED result, `None` when the entropy source had nothing (CF = 0).
/// The caller must have checked that the CPU has RDSEED.
pub fn rdseed() -> Option<u64> {
    let v: u64;
    let ok: u8;
    // SAFETY: the instruction exists (the caller checked CPUID) and only writes
    // its destination register and the flags.
    unsafe {
        asm!("rdseed {v}", "setc {ok}", v = out(reg) v, ok = out(reg_byte) ok, options(nomem, nostack))
    };
    (ok != 0).then_some(v)
}

/// One RDRAND result, `None` when the DRBG had nothing (CF = 0).
/// The caller must have checked that the CPU has RDRAND.
pub fn rdrand() -> Option<u64> {
    let v: u64;
    let ok: u8;
    // SAFETY: as for `rdseed`.
    unsafe {
        asm!("rdrand {v}", "setc {ok}", v = out(reg) v, ok = out(reg_byte) ok, options(nomem, nostack))
    };
    (ok != 0).then_some(v)
}

/// CPUID leaves 0x15/0x16: the TSC frequency as the CPU (or hypervisor) reports it,
/// used only when no reference timer exists to calibrate against.
pub fn reported_tsc_hz() -> Option<u64> {
    let max = cpuid(0, 0).eax;
    if max >= 0x15 {
        let l = cpuid(0x15, 0);
        if l.eax != 0 && l.ebx != 0 && l.ecx != 0 {
            return Some(u64::from(l.ecx) * u64::from(l.ebx) / u64::from(l.eax));
        }
    }
    if max >= 0x16 {
        let mhz = cpuid(0x16, 0).eax & 0xffff;
        if mhz != 0 {
            return Some(u64::from(mhz) * 1_000_000);
        }
    }
    None
}

/// Reads a model-specific register.
///
/// # Safety
/// `msr` must exist on this CPU (else #GP).
pub unsafe fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: the caller vouches that the MSR exists; RDMSR only reads it.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    u64::from(hi) << 32 | u64::from(lo)
}

/// Writes a model-specific register.
///
/// # Safety
/// `msr` must exist and `value` must be valid for it, with the effect the caller wants.
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: the caller's contract.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32,
             options(nostack, preserves_flags))
    };
}

/// Whether the CPU has a local APIC (CPUID.1:EDX bit 9).
pub fn has_apic() -> bool {
    cpuid(1, 0).edx & (1 << 9) != 0
}
