"""The TA's gdb kit on real runs: `make gdb-batch` (harness/gdb_batch.py) and the .gdbinit
helpers (vmcb with exit_int_info, guest-insn, npt-gpa2hva, guest-gva2gpa, both symbol
files), on the reference build. See handouts/debugging.md, section 3."""
import re
import socket
import subprocess

import pytest

from harness import gdb_batch, qemu
from harness.plugin import SOLUTION_DIR, SOLUTION_IMAGE

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(not SOLUTION_DIR.is_dir(), reason="solution/ is not here")]


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.fixture
def script(tmp_path):
    def write(text):
        path = tmp_path / "cmds.gdb"
        path.write_text(text)
        return path
    return write


def test_npf_session(keos_build, script):
    """Stopped after the pager mapped a page for the guest KeOS in long mode."""
    keos_build.ensure(SOLUTION_IMAGE)
    cmds = script("""\
break handle_npf if vcpu->vmcb->save.rip >= 0xffffffff81000000
continue
set $v = vcpu
delete
finish
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
""")
    status, out, _ = gdb_batch.run("pager.boot_keos", cmds, image=SOLUTION_IMAGE,
                                   port=free_port(), timeout=120)
    assert status == 0, out
    assert not qemu.live_pids(), "gdb-batch left QEMU running"
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


def test_triple_fault_session(keos_build, script):
    """Through `make gdb-batch`: the triple fault of kev.triple_fault (an int3 with no IDT)."""
    keos_build.ensure(SOLUTION_IMAGE)
    cmds = script("""\
break handle_shutdown
continue
vmcb vcpu->vmcb
guest-insn vcpu
exit-int-info 0x80000b0e
""")
    done = subprocess.run(["make", "-s", "gdb-batch", "SOLUTION=1", "TEST=kev.triple_fault",
                           f"CMDS={cmds}", f"GDBPORT={free_port()}"], cwd=qemu.ROOT,
                          capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "exit_code 0x7f " in out, out
    assert "exit_int_info 0x80000403: vector 3, software interrupt (int 0x3)" in out, out
    assert re.search(r"vcpu0 guest rip 0x1008 = gpa 0x1008 = host 0xffff8000\w+", out), out
    assert re.search(r"^\s+0xffff8000\w+:\tint3", out, re.M), out
    assert "vector 14 #PF, exception, error code 0x0" in out, out
    assert "QEMU stopped" in out, out
