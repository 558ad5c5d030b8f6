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
		exit-int-info $vmcb_p->control.exit_int_info
	end
end
document vmcb
vmcb ADDRESS: the VMCB fields one reads most, from the VMCB at ADDRESS (a kernel
virtual address, such as vcpu->vmcb). The whole thing: p/x *(struct vmcb *)ADDRESS.
Works while the CPU runs the host; stopped inside a guest, gdb reads the guest's memory.
end

define exit-int-info
	if $argc != 1
		echo usage: exit-int-info VALUE   (one word: exit-int-info vcpu->vmcb->control.exit_int_info)\n
	else
		set $eii = (unsigned long)($arg0)
		set $eii_vec = $eii & 0xff
		set $eii_type = ($eii >> 8) & 7
		if !($eii & 0x80000000)
			printf "exit_int_info 0x%lx: no event was being delivered\n", $eii
		else
			printf "exit_int_info 0x%lx: vector %lu", $eii, $eii_vec
			if $eii_type == 3 && $eii_vec < 22
				# two letters per vector: #DE #DB NMI #BP ... #VE #CP
				set $eii_names = "DEDBNIBPOFBRUDNMDFCOTSNPSSGPPF15MFACMCXMVECP"
				printf " #%c%c, exception", $eii_names[$eii_vec * 2], $eii_names[$eii_vec * 2 + 1]
			end
			if $eii_type == 0
				printf ", external interrupt"
			end
			if $eii_type == 2
				printf ", NMI"
			end
			if $eii_type == 4
				printf ", software interrupt (int 0x%lx)", $eii_vec
			end
			if $eii & 0x800
				printf ", error code 0x%lx", $eii >> 32
			end
			printf " (being delivered when the exit happened)\n"
		end
	end
end
document exit-int-info
exit-int-info VALUE: decode a VMCB exit_int_info (Linux: SVM_EXITINTINFO_*): the event
the CPU was delivering to the guest at the exit, e.g. the #UD behind a triple fault.
`vmcb` prints it too.
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

# Walks done by gdb itself (no inferior calls): the NPT maps a gpa to a host physical
# address, seen at PHYS_BASE + pa (keos/mm.h, the direct map).
define npt-gpa2hva
	if $argc != 2
		echo usage: npt-gpa2hva PML4 GPA   (two words: npt-gpa2hva vcpu->vm->npt->pml4 0x1000000)\n
	else
		set $w_table = (unsigned long *)($arg0)
		set $w_gpa = (unsigned long)($arg1)
		set $w_level = 3
		set $hva = 0
		while $w_level >= 0
			set $w_slot = ($w_gpa >> (12 + 9 * $w_level)) & 0x1ff
			set $w_e = $w_table[$w_slot]
			if !($w_e & 1)
				printf "gpa 0x%lx: not in the NPT (level %d slot %lu is 0x%lx)\n", $w_gpa, $w_level, $w_slot, $w_e
				set $w_level = -1
			else
				if $w_level == 0 || ($w_e & 0x80)
					set $w_size = 1UL << (12 + 9 * $w_level)
					set $hva = 0xFFFF800000000000 + (($w_e & 0x000FFFFFFFFFF000 & ~($w_size - 1)) | ($w_gpa & ($w_size - 1)))
					set $w_level = -1
				else
					set $w_table = (unsigned long *)(0xFFFF800000000000 + ($w_e & 0x000FFFFFFFFFF000))
					set $w_level = $w_level - 1
				end
			end
		end
	end
end
document npt-gpa2hva
npt-gpa2hva PML4 GPA: walk the nested page table whose root is PML4 (kernel virtual, e.g.
vcpu->vm->npt->pml4) for GPA, the way the CPU does (2 MiB / 1 GiB pages included). Sets
$hva to the host kernel address of that byte, or 0 and says at which level it stopped.
end

define guest-gva2gpa
	if $argc != 2
		echo usage: guest-gva2gpa VCPU GVA   (two words: guest-gva2gpa vcpu $rip)\n
	else
		set $gw_vcpu = (struct vcpu *)($arg0)
		set $gw_gva = (unsigned long)($arg1)
		set $gpa = -1
		if !($gw_vcpu->vmcb->save.cr0 & 0x80000000)
			set $gpa = $gw_gva & 0xffffffff
		else
			set $gw_table = $gw_vcpu->vmcb->save.cr3 & 0x000FFFFFFFFFF000
			set $gw_level = 3
			while $gw_level >= 0
				npt-gpa2hva $gw_vcpu->vm->npt->pml4 $gw_table+8*(($gw_gva>>(12+9*$gw_level))&0x1ff)
				if $hva == 0
					set $gw_level = -1
				else
					set $gw_e = *(unsigned long *)$hva
					if !($gw_e & 1)
						printf "gva 0x%lx: not mapped by the guest (level %d entry 0x%lx)\n", $gw_gva, $gw_level, $gw_e
						set $gw_level = -1
					else
						if $gw_level == 0 || ($gw_e & 0x80)
							set $gw_size = 1UL << (12 + 9 * $gw_level)
							set $gpa = ($gw_e & 0x000FFFFFFFFFF000 & ~($gw_size - 1)) | ($gw_gva & ($gw_size - 1))
							set $gw_level = -1
						else
							set $gw_table = $gw_e & 0x000FFFFFFFFFF000
							set $gw_level = $gw_level - 1
						end
					end
				end
			end
		end
	end
end
document guest-gva2gpa
guest-gva2gpa VCPU GVA: translate a guest-virtual address with the guest's own page table
(CR3 from the vCPU's VMCB; identity while its paging is off), reading the guest's tables
through the NPT. Sets $gpa, or -1 and says where the walk stopped.
end

define guest-insn
	if $argc != 1
		echo usage: guest-insn VCPU   (a struct vcpu *, one word: guest-insn vcpu)\n
	else
		set $gi_vcpu = (struct vcpu *)($arg0)
		set $gi_rip = $gi_vcpu->vmcb->save.rip
		guest-gva2gpa $gi_vcpu $gi_rip
		if $gpa != -1
			npt-gpa2hva $gi_vcpu->vm->npt->pml4 $gpa
			if $hva != 0
				printf "vcpu%d guest rip 0x%lx = gpa 0x%lx = host 0x%lx: ", $gi_vcpu->id, $gi_rip, $gpa, $hva
				info symbol $gi_rip
				x/6i $hva
			end
		end
	end
end
document guest-insn
guest-insn VCPU: the instructions at a vCPU's guest RIP (from its VMCB), found through the
guest's page table and the NPT (the student's), read from the host side: works while gdb
is stopped in the hypervisor. `info symbol` names the guest function (the guest KeOS's
symbols are loaded). Addresses shown by x/i are host addresses of the same bytes. A guest
running 32-bit code needs `set architecture i386` first.
end

define guest-insn-student
	if $argc != 1
		echo usage: guest-insn-student VCPU   (a struct vcpu *, one word)\n
	else
		set $gs_vcpu = (struct vcpu *)($arg0)
		set $gs_rip = $gs_vcpu->vmcb->save.rip
		set $hva = kev_debug_gva2hva($gs_vcpu, $gs_rip)
		if $hva == 0
			printf "vcpu%d guest rip 0x%lx: npt_gva2hpa (or npt_gpa2hpa) says it is not mapped\n", $gs_vcpu->id, $gs_rip
		else
			printf "vcpu%d guest rip 0x%lx = host 0x%lx by npt_gva2hpa: ", $gs_vcpu->id, $gs_rip, $hva
			info symbol $gs_rip
			x/6i $hva
		end
	end
end
document guest-insn-student
guest-insn-student VCPU: like guest-insn, but the translation is the student's own
npt_gva2hpa (npt_gpa2hpa while the guest's paging is off), called in the kernel
(kev_debug_gva2hva, an inferior call). When the two disagree, the translation is wrong.
end

# ---- symbols and connect: last, because a failed `target remote` ends this file ----

# `make run-gdb` and `make gdb` write this file: the symbols of the build's kernel.elf
# and of the guest KeOS, and "target remote localhost:PORT", PORT being your own (GDBPORT
# in the Makefile), so that gdb follows SOLUTION=1 and TOOLCHAIN=, and two users of one
# machine do not meet.
shell test -f build/gdb-session.gdb
if $_shell_exitcode == 0
	source build/gdb-session.gdb
else
	echo .gdbinit: no build/gdb-session.gdb: start QEMU first with `make run-gdb` (in another\n
	echo .gdbinit: terminal), then `make gdb`, from the top of the repository.\n
end
