//! A panic and every kind of CPU exception must fail the QEMU run, with a report
//! that says what happened -- never look like a clean poweroff.

use vnetcrypt_tests::{exec, exit, test_kernel, LogDir};

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn panic_fails_the_run() {
    let logs = LogDir::new("panic");
    let run = exec(
        "microvm",
        &test_kernel(),
        "debug fault panic; status",
        &[],
        &logs,
    );
    assert_eq!(run.code, exit::PANIC, "launcher exit code");
    assert!(run
        .stdout
        .contains("*** PANIC: debug fault panic requested ***"));
    assert!(run.stdout.contains("stack return addresses"));
    assert!(
        run.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("0x0000")),
        "at least one return address"
    );
    assert!(run.stderr.contains("PANICKED"));
    assert!(
        !run.stdout.contains("uptime"),
        "nothing ran after the panic"
    );
}

fn check_exception(command: &str, vector: u32, name: &str) -> String {
    let logs = LogDir::new(&format!("fault-{vector}"));
    let run = exec(
        "microvm",
        &test_kernel(),
        &format!("debug fault {command}; status"),
        &[],
        &logs,
    );
    assert_eq!(
        run.code,
        exit::CPU_EXCEPTION,
        "launcher exit code for {command}"
    );
    let header = format!("*** CPU EXCEPTION: vector {vector} ({name}");
    assert!(run.stdout.contains(&header), "{header}");
    for part in [
        "error code 0x",
        "RIP 0x",
        "CR2 0x",
        "stack return addresses",
    ] {
        assert!(run.stdout.contains(part), "report has {part}");
    }
    assert!(run.stderr.contains("CPU EXCEPTION"));
    assert!(
        !run.stdout.contains("uptime"),
        "nothing ran after the fault"
    );
    run.stdout
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn page_fault_fails_the_run_and_reports_cr2() {
    let out = check_exception("pagefault", 14, "#PF");
    // The test build reads 0xdeadbeef000, above the identity mapping.
    assert!(
        out.contains("CR2 0x00000deadbeef000"),
        "CR2 names the faulting address"
    );
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn invalid_opcode_fails_the_run() {
    check_exception("ud", 6, "#UD");
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn divide_error_general_protection_and_breakpoint_fail_the_run() {
    check_exception("divide", 0, "#DE");
    check_exception("gp", 13, "#GP");
    check_exception("breakpoint", 3, "#BP");
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn unexpected_interrupt_vector_fails_the_run() {
    // `int 0x99`: a vector no device, timer or spurious source is routed to.
    check_exception("interrupt", 0x99, "unexpected interrupt");
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn q35_page_fault_fails_the_run() {
    let logs = LogDir::new("q35-pf");
    let run = exec("q35", &test_kernel(), "debug fault pagefault", &[], &logs);
    assert_eq!(run.code, exit::CPU_EXCEPTION);
    assert!(run.stdout.contains("vector 14"));
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn product_kernel_has_no_fault_command() {
    let logs = LogDir::new("no-fault");
    let run = exec(
        "microvm",
        &vnetcrypt_tests::kernel(),
        "debug fault panic",
        &[],
        &logs,
    );
    assert_eq!(
        run.code,
        exit::OK,
        "the product build refuses the command and powers off cleanly"
    );
    assert!(run.stdout.lines().any(|l| l.starts_with("error:")));
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn stack_overflow_hits_the_guard_page() {
    // #PF on the guard page while pushing becomes a double fault on the IST stack.
    let out = check_exception("stack", 8, "#DF");
    assert!(
        out.contains("STACK OVERFLOW"),
        "the report names the overflow"
    );
}
