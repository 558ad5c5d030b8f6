# .gdbinit: gdb for KeOS + KeV. Used by `make gdb` (gdb -q -nx -x .gdbinit), from the
# top of the repository. See handouts/debugging.md.
#
#   terminal 1: make run-gdb TEST=npt.simple   QEMU starts paused, waits for gdb
#   terminal 2: make gdb                       this file: symbols, connect
#
# No Python needed: file tests go through `shell` and $_shell_exitcode (gdb >= 8.3).
# gdb splits a user command's arguments at spaces: give the helpers one word each.

set confirm off
set pagination off
set print pretty on
# The kernel runs in long mode, gdb's default here. The 32-bit entry code (keos/boot.S,
# and a guest before it turns on long mode) reads right only after `set architecture i386`.

# ---- helpers ----

define vmcb
	if $argc != 1
		echo usage: vmcb ADDRESS   (one word, no spaces: vmcb vcpu->vmcb)\n
	else
		set $vmcb_p = (struct vmcb *)($arg0)
		printf "exit_code 0x%lx  exitinfo1 0x%lx  exitinfo2 0x%lx  exit_int_info 0x%lx\n", $vmcb_p->control.exit_code, $vmcb_p->control.exit_info_1, $vmcb_p->control.exit_info_2, $vmcb_p->control.exit_int_info
		printf "asid %u  nested_ctl 0x%lx  nCR3 0x%lx  tlb_ctl %u\n", $vmcb_p->control.asid, $vmcb_p->control.nested_ctl, $vmcb_p->control.nested_cr3, $vmcb_p->control.tlb_ctl
		printf "guest rip 0x%lx  rsp 0x%lx  rax 0x%lx  rflags 0x%lx  cpl %u\n", $vmcb_p->save.rip, $vmcb_p->save.rsp, $vmcb_p->save.rax, $vmcb_p->save.rflags, $vmcb_p->save.cpl
		printf "guest cr0 0x%lx  cr3 0x%lx  cr4 0x%lx  efer 0x%lx\n", $vmcb_p->save.cr0, $vmcb_p->save.cr3, $vmcb_p->save.cr4, $vmcb_p->save.efer
		printf "guest cs sel 0x%x attrib 0x%x base 0x%lx limit 0x%x\n", $vmcb_p->save.cs.selector, $vmcb_p->save.cs.attrib, $vmcb_p->save.cs.base, $vmcb_p->save.cs.limit
	end
end
document vmcb
vmcb ADDRESS: the VMCB fields one reads most, from the VMCB at ADDRESS (a kernel
virtual address, such as vcpu->vmcb). The whole thing: p/x *(struct vmcb *)ADDRESS.
Works while the CPU runs the host; stopped inside a guest, gdb reads the guest's memory.
end

define npte
	if $argc != 1
		echo usage: npte ENTRY   (one word, no spaces: npte *e, or set $e = ... then npte $e)\n
	else
		set $npte_v = (unsigned long)($arg0)
		printf "0x%016lx: addr 0x%lx", $npte_v, $npte_v & 0x000FFFFFFFFFF000
		if $npte_v & 1
			printf " P"
		end
		if $npte_v & 2
			printf " RW"
		end
		if $npte_v & 4
			printf " US"
		end
		if $npte_v & 0x80
			printf " PS"
		end
		if $npte_v & 0x8000000000000000
			printf " NX"
		end
		printf "\n"
	end
end
document npte
npte ENTRY: decode one page table entry (NPT or guest): its address and its P, RW, US,
PS and NX bits.
end

define vcpu-exit
	if $argc != 1
		echo usage: vcpu-exit VCPU   (a struct vcpu *, one word: vcpu-exit vcpu)\n
	else
		set $vcpu_p = (struct vcpu *)($arg0)
		printf "vcpu%d of %s: exit 0x%lx info1 0x%lx info2 0x%lx at rip 0x%lx, verdict %d\n", $vcpu_p->id, $vcpu_p->vm->name, $vcpu_p->exit.code, $vcpu_p->exit.info1, $vcpu_p->exit.info2, $vcpu_p->exit.rip, $vcpu_p->verdict
	end
end
document vcpu-exit
vcpu-exit VCPU: the last exit of a vCPU (struct vcpu *) as the exit handlers see it.
end

# ---- symbols and connect: last, because a failed `target remote` ends this file ----

# `make run-gdb` and `make gdb` write this file: "file <the build's kernel.elf>" and
# "target remote localhost:PORT", PORT being your own (GDBPORT in the Makefile), so that
# gdb follows SOLUTION=1 and TOOLCHAIN=, and two users of one machine do not meet.
shell test -f build/gdb-session.gdb
if $_shell_exitcode == 0
	source build/gdb-session.gdb
else
	echo .gdbinit: no build/gdb-session.gdb: start QEMU first with `make run-gdb` (in another\n
	echo .gdbinit: terminal), then `make gdb`, from the top of the repository.\n
end
