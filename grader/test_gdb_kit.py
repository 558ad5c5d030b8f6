"""The gdb kit on real runs: `make gdb GDBCMDS=` (harness/gdb_batch.py; `make gdb-batch`
its older name), `make gdb` without QEMU, and the .gdbinit helpers (vmcb with
exit_int_info, guest-insn, npt-gpa2hva, guest-gva2gpa, npt-walk, gpt-walk, pager-loaders,
both symbol files: a breakpoint in the guest), on the reference build. See
handouts/debugging.md, section 3."""
import os
import pty
import re
import shutil
import socket
import subprocess
import time

import pytest

from harness import gdb_batch, qemu
from harness.gdb_batch import free_port
from harness.plugin import SOLUTION_DIR, SOLUTION_IMAGE

pytestmark = pytest.mark.kernel
needs_solution = pytest.mark.skipif(not SOLUTION_DIR.is_dir(), reason="solution/ is not here")
PHYS_BASE = 0xFFFF800000000000     # keos/mm.h: the direct map
# Stops just after the pager handled an #NPF of the guest KeOS in long mode; $v is the vCPU.
AT_GUEST_NPF = """\
break handle_npf if vcpu->vmcb->save.rip >= 0xffffffff81000000
continue
set $v = vcpu
delete
finish
"""


@pytest.fixture
def script(tmp_path):
    def write(text):
        path = tmp_path / "cmds.gdb"
        path.write_text(text)
        return path
    return write


def session(script_text, tmp_path, test="pager.boot_keos"):
    """Run a gdb script against the reference kernel running `test`: its output."""
    path = tmp_path / "cmds.gdb"
    path.write_text(script_text)
    status, out, _ = gdb_batch.run(test, path, image=SOLUTION_IMAGE, port=free_port(),
                                   timeout=120)
    assert status == 0, out
    assert not qemu.live_pids(), "gdb-batch left QEMU running"
    return out


@needs_solution
def test_npf_session(keos_build, tmp_path):
    """Stopped after the pager mapped a page for the guest KeOS in long mode."""
    keos_build.ensure(SOLUTION_IMAGE)
    out = session(AT_GUEST_NPF + """\
vcpu-exit $v
vmcb $v->vmcb
guest-insn $v
guest-insn-student $v
guest-gva2gpa $v $v->vmcb->save.rip
printf "GPA 0x%lx RIP 0x%lx\\n", $gpa, $v->vmcb->save.rip
npt-gpa2hva $v->vm->npt->pml4 $v->exit.info2
printf "HVA 0x%lx\\n", $hva
npt-gpa2hva $v->vm->npt->pml4 0x7000000
info symbol thread_start
""", tmp_path)
    assert "exit_int_info 0x0: no event was being delivered" in out, out
    assert re.search(r"vcpu0 of keos\.elf: exit 0x400 ", out), out
    m = re.search(r"vcpu0 guest rip (0xffffffff81\w+) = gpa (0x\w+) = host (0xffff8000\w+): "
                  r"\w+( \+ \d+)? in section \.text of \S*guests/keos\.elf", out)
    assert m, f"guest-insn did not name a guest function:\n{out}"
    assert re.search(r"^\s+0xffff8000\w+:\t\S", out, re.M), f"no instructions:\n{out}"
    assert re.search(rf"vcpu0 guest rip {m.group(1)} = host {m.group(3)} by npt_gva2hpa: ", out), \
        f"guest-insn-student does not agree with guest-insn:\n{out}"
    rip, gpa = int(m.group(1), 16), int(m.group(2), 16)
    assert gpa == rip - 0xFFFFFFFF80000000, "guest-insn: the guest maps KERN_BASE + pa"
    assert f"GPA {gpa:#x} RIP {rip:#x}" in out, out
    assert re.search(r"^HVA 0xffff8000\w+$", out, re.M), f"the faulting page is not mapped:\n{out}"
    assert "gpa 0x7000000: not in the NPT (level" in out, out
    assert re.search(r"thread_start in section \.text of \S*solution/kernel\.elf", out), out


@needs_solution
@pytest.mark.parametrize("target, var", [("gdb", "GDBCMDS"), ("gdb-batch", "CMDS")])
def test_triple_fault_session(keos_build, script, target, var):
    """Through `make gdb GDBCMDS=` (and its older name): the triple fault of
    kev.triple_fault (an int3 with no IDT)."""
    keos_build.ensure(SOLUTION_IMAGE)
    cmds = script("""\
break handle_shutdown
continue
vmcb vcpu->vmcb
guest-insn vcpu
exit-int-info 0x80000b0e
""")
    done = subprocess.run(["make", "-s", target, "SOLUTION=1", "TEST=kev.triple_fault",
                           f"{var}={cmds}", f"GDBPORT={free_port()}"], cwd=qemu.ROOT,
                          capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "exit_code 0x7f " in out, out
    assert "exit_int_info 0x80000403: vector 3, software interrupt (int 0x3)" in out, out
    assert re.search(r"vcpu0 guest rip 0x1008 = gpa 0x1008 = host 0xffff8000\w+", out), out
    assert re.search(r"^\s+0xffff8000\w+:\tint3", out, re.M), out
    assert "vector 14 #PF, exception, error code 0x0" in out, out
    assert "QEMU stopped" in out, out


def hexes(pattern, out):
    return [int(x, 16) for x in re.findall(pattern, out, re.M)]


@needs_solution
def test_walks_and_loaders(keos_build, tmp_path):
    """npt-walk, gpt-walk and pager-loaders at an #NPF of the guest KeOS, each checked
    against the kernel's own answer (inferior calls of the reference's functions)."""
    keos_build.ensure(SOLUTION_IMAGE)
    out = session(AT_GUEST_NPF + """\
set $vm = $v->vm
set $rip = $v->vmcb->save.rip
gpt-walk $v->vmcb->save.cr3 $rip
printf "KERNEL hva 0x%lx\\n", kev_debug_gva2hva($v, $rip)
npt-walk $gpa
set $page = $gpa & ~0xfffUL
pager-loaders $page
set $l = pager_find($kv_pager, $page)
while $l != 0
  printf "KERNEL loader %u 0x%lx 0x%x %u\\n", $l->file_len, $l->file_off, $l->page_off, $l->loads
  set $l = pager_find_next($l)
end
pager-loaders 0x3000000
printf "KERNEL zero page loaders %d\\n", pager_find($kv_pager, 0x3000000) != 0
npt-walk 0x7000000
npt-gpa2hva $vm->npt->pml4 0x7000000
""", tmp_path)
    # gpt-walk: the guest's levels, each entry found through the NPT, then gva -> gpa -> hpa.
    walk = re.search(r"^gva (0x\w+) -> gpa (0x\w+) -> hpa (0x\w+)$", out, re.M)
    assert walk, f"gpt-walk did not end in an hpa:\n{out}"
    gva, gpa, hpa = (int(x, 16) for x in walk.groups())
    kernel_hva, = hexes(r"^KERNEL hva (0x\w+)$", out)
    assert hpa == kernel_hva - PHYS_BASE, f"gpt-walk and npt_gva2hpa disagree:\n{out}"
    guest_levels = re.findall(r"^  (PML4|PDPT|PD|PT) *\[ *\d+\] at gpa 0x\w+ = hpa 0x\w+: 0x\w+: "
                              r"addr 0x\w+ P", out, re.M)
    assert guest_levels[:2] == ["PML4", "PDPT"], out
    # npt-walk of that gpa: four levels (the reference maps 4 KiB pages), upper ones P RW US.
    levels = re.findall(r"^  (PML4|PDPT|PD|PT) *\[ *\d+\] 0x\w+: addr 0x\w+( P RW US)?", out, re.M)
    assert [name for name, _ in levels[:4]] == ["PML4", "PDPT", "PD", "PT"], out
    assert all(bits for _, bits in levels[:3]), f"an upper NPT entry is not P RW US:\n{out}"
    assert f"gpa {gpa:#x} -> hpa {hpa:#x} (a 4 KiB page)" in out, out
    # pager-loaders: the same loaders as pager_find/pager_find_next, with their run counts.
    ours = re.findall(r"^  loader \d+: (\d+) bytes from file offset (0x\w+) to page offset "
                      r"(0x\w+), ran (\d+) times$", out, re.M)
    theirs = re.findall(r"^KERNEL loader (\d+) (0x\w+) (0x\w+) (\d+)$", out, re.M)
    assert ours and ours == theirs, f"pager-loaders disagrees with pager_find:\n{out}"
    assert all(int(runs) >= 1 for *_, runs in ours), f"a loader of a mapped page never ran:\n{out}"
    page = gpa & ~0xFFF
    assert f"gpa {page:#x} of keos.elf: {len(ours)} loaders; mapped at hpa {hpa & ~0xFFF:#x}" \
        in out, out
    assert "KERNEL zero page loaders 0" in out, out
    assert "gpa 0x3000000 of keos.elf: 0 loaders (not an image page" in out, out
    # A gpa the NPT does not map: npt-walk names the level npt-gpa2hva stopped at.
    stop = re.search(r"gpa 0x7000000: not in the NPT \(level (\d) slot (\d+)", out)
    assert stop, out
    name = ["PT", "PD", "PDPT", "PML4"][int(stop.group(1))]
    assert f"gpa 0x7000000: not mapped: no {name} entry (slot {stop.group(2)})" in out, out


@needs_solution
def test_breakpoint_in_the_guest(keos_build, tmp_path):
    """The guest KeOS's symbols are loaded: a breakpoint on the guest's main function
    stops there, while a CPU runs the guest (at the guest's own virtual address)."""
    keos_build.ensure(SOLUTION_IMAGE)
    out = session("""\
break guests/keos/main.c:kmain
continue
printf "PC 0x%lx\\n", $pc
""", tmp_path)
    nm = shutil.which("nm") or shutil.which("llvm-nm")
    if nm is None:
        pytest.skip("no nm to read the guest's symbols")
    syms = subprocess.run([nm, "-S", str(gdb_batch.GUEST_ELF)], capture_output=True,
                          text=True, check=True).stdout
    addr, size = next((int(a, 16), int(s, 16)) for a, s, _, n in
                      (l.split() for l in syms.splitlines() if len(l.split()) == 4)
                      if n == "kmain")
    assert re.search(r"hit Breakpoint 1, kmain \(.*\) at guests/keos/main\.c:\d+", out), out
    pc, = hexes(r"^PC (0x\w+)$", out)
    assert addr <= pc < addr + size, f"stopped at {pc:#x}, not in the guest's kmain:\n{out}"


def test_make_gdb_without_qemu_says_so_at_once():
    """`make gdb` with nothing on its port: a hint at once, not gdb's 15 s of retries. It
    runs on a terminal (a pty), as a student would."""
    port = free_port()
    assert gdb_batch.listening(port) is False
    with socket.socket() as s:
        s.bind(("localhost", port))
        s.listen()
        assert gdb_batch.listening(port) is True
    (qemu.BUILD / "kernel.elf").exists() or pytest.skip("no build/kernel.elf")
    controller, terminal = pty.openpty()
    try:
        start = time.monotonic()
        done = subprocess.run(["make", "-s", "gdb", f"GDBPORT={port}"], cwd=qemu.ROOT,
                              stdin=terminal, capture_output=True, text=True, timeout=60)
        took = time.monotonic() - start
    finally:
        os.close(controller)
        os.close(terminal)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert f"nothing listens on localhost:{port}: start QEMU first with `make run-gdb`" in out, out
    assert took < 5, f"make gdb took {took:.1f} s to say nothing listens"
