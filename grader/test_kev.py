"""Every kev.* test (the virtualization layer: VMRUN loop, exits, hypercalls, port I/O,
CPUID, MSRs, MMIO decoding), all in one QEMU (a test that does not pass there gets its
own, for its own report), plus the grader's view of what each printed.

kev's guests need a working nested page table, which is the students' Project 3 part 1,
so these run on the reference solution's kernel (build/solution/kernel.elf) and are skipped
where solution/ is absent (students' copies). The two capability tests at the end need
no NPT and run on the student kernel everywhere.
"""


import pytest

from harness import Verdict, ktests, qemu
from harness.paths import ROOT
from harness.plugin import run_alone_if_not_passed

SMP = qemu.SMP             # keos/machine.h

KEV_TESTS = ktests.in_group(ktests.from_sources(ROOT), "kev")

# Lines a guest prints reach the serial log as "guest| <text>": the kernel test checks
# the VM's console buffer, this checks what the student actually sees.
CONSOLE = {
    "kev.hypercall_print": "Hello from a hypercall!",
    "kev.pio_out_dx": "Hello via out dx!",
    "kev.pio_rep_outsb": "Hello via rep outsb!",
}
# What kev prints when it ends a VM with an error (vcpu_fail): "kev: <vm> vcpu<N>: <why>".
ERRORS = {
    "kev.outside_memory": "0x20000000 is outside the guest's memory",
    "kev.unhandled_port": "unhandled port I/O: outb 0x1234",
    "kev.hlt_interrupts_off": "hlt with interrupts disabled",
}
# Numbers worth seeing in the summary (information, not checks): (test, metric, unit).
MEASURED = [
    ("kev.exit_throughput", "exits_per_sec", "exits/s"),
    ("kev.exit_throughput", "guest_us", "us"),
    ("kev.hypercall_exit", "guest_us", "us"),
]


def test_the_suite_is_not_empty():
    assert len(KEV_TESTS) >= 10, f"only {KEV_TESTS} found in the sources"
    for table in (CONSOLE, ERRORS):
        assert set(table) <= set(KEV_TESTS), "a check names a test that is gone"


@pytest.mark.kernel
@pytest.mark.timeout_s(30)
@pytest.mark.parametrize("name", KEV_TESTS)
def test_kev(keos_solution, name):
    result = run_alone_if_not_passed(keos_solution, "kev.*", name, smp=SMP)
    assert name in result.tests, f"{result.selection} did not run {name}"
    lines = result.test_lines(name)

    if name in CONSOLE:
        line = f"guest| {CONSOLE[name]}"
        assert line in lines, \
            f"{line!r} is not among {name}'s lines of the serial log {result.log_path}"
    if name in ERRORS:
        errors = [l for l in lines if l.startswith("kev: ")]
        assert any(ERRORS[name] in l for l in errors), \
            f"no 'kev: ...' line says {ERRORS[name]!r}; kev printed: {errors}"
    if name == "kev.multi_vcpu":
        assert result.metric("vcpus", test=name) == SMP, "one vCPU per host CPU was expected"
    if name == "kev.exit_throughput":
        assert result.metric("exits", test=name) >= 20000
    for test, key, unit in MEASURED:
        if test == name:
            keos_solution.record(f"{name} {key}", result.metric(key, test=name), unit)


# ---- the CPU cannot run guests: a clear message, not a crash ----

@pytest.mark.kernel
@pytest.mark.parametrize("cpu, missing", [
    ("qemu64,-svm", "SVM"),
    ("qemu64,+svm,-npt", "nested paging"),
])
def test_unsupported_cpu_is_reported(keos, cpu, missing):
    result = keos("kev.hypercall_exit", cpu=cpu)
    result.expect(Verdict.UNSUPPORTED)
    assert missing in result.unsupported, \
        f"with -cpu {cpu} the kernel said it lacks {result.unsupported!r}"
    hint = "\n".join(result.log.unsupported_lines)
    assert "-cpu qemu64,+svm,+npt" in hint, f"no hint on how to run QEMU:\n{hint}"
    assert "TEST-PASS" not in result.channel_text and "TEST-FAIL" not in result.channel_text
