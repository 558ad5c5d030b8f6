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

# ---- the VM: the struct vm fields the walks and the pager helper read, in one place ----
#
# npt-walk, gpt-walk and pager-loaders look at the VM in $vm (`set $vm = vcpu->vm`, or
# `= vm` where a kev or pager function is stopped), or at one given as their last
# argument. kev-vm is the one command that reads struct vm: vm->name, vm->npt->pml4 (the
# NPT's root, kernel virtual), vm->fault_handler and vm->fault_arg (the lazy pager's
# struct pager, when the handler is the provided pager_fault).
define kev-vm
	set $kv_vm = (struct vm *)($arg0)
	set $kv_name = $kv_vm->name
	set $kv_pml4 = (unsigned long *)$kv_vm->npt->pml4
	set $kv_pager = (struct pager *)0
	if $kv_vm->fault_handler == pager_fault
		set $kv_pager = (struct pager *)$kv_vm->fault_arg
	end
end
document kev-vm
kev-vm VM: read a struct vm * for the helpers: $kv_name, $kv_pml4 (the NPT's root) and
$kv_pager (its lazy pager, 0 if it has none).
end

# A helper's VM: its argument if it has one, else $vm. Sets $kv_ok to 0 when there is none.
define kev-pick-vm
	set $kv_ok = 1
	if $argc == 1
		kev-vm $arg0
	else
		if $_isvoid($vm)
			echo no VM: `set $vm = vcpu->vm` (or `= vm`) first, or give the VM as the last argument\n
			set $kv_ok = 0
		else
			kev-vm $vm
		end
	end
end

# The page walks, done by gdb itself (no inferior calls), as the CPU does them: 4 levels,
# PS at levels 2 and 1 (2 MiB and 1 GiB pages). Tables are read through the direct map,
# PHYS_BASE + pa (keos/mm.h). Level names, four characters each, lowest level first:
set $kev_levels = "PT  PD  PDPTPML4"

# kev-level-name LEVEL: print that level's name (3: PML4 ... 0: PT), without padding.
define kev-level-name
	set $ln_i = 4 * ($arg0)
	set $ln_end = $ln_i + 4
	while $ln_i < $ln_end
		if $kev_levels[$ln_i] != ' '
			printf "%c", $kev_levels[$ln_i]
		end
		set $ln_i = $ln_i + 1
	end
end

# npt-walk-from PML4 GPA SAY: the NPT walk for GPA from PML4 (kernel virtual). SAY 0:
# silent; 1: say where it stopped; 2: print every level's entry too. Sets $hpa and $hva
# (the byte's host physical and kernel virtual address), both 0 when it is not mapped.
define npt-walk-from
	set $w_table = (unsigned long *)($arg0)
	set $w_gpa = (unsigned long)($arg1)
	set $w_say = $arg2
	set $w_level = 3
	set $hpa = 0
	set $hva = 0
	while $w_level >= 0
		set $w_slot = ($w_gpa >> (12 + 9 * $w_level)) & 0x1ff
		set $w_e = $w_table[$w_slot]
		set $w_name = 4 * $w_level
		if $w_say == 2
			printf "  %c%c%c%c[%3lu] ", $kev_levels[$w_name], $kev_levels[$w_name + 1], $kev_levels[$w_name + 2], $kev_levels[$w_name + 3], $w_slot
			npte $w_e
		end
		if !($w_e & 1)
			if $w_say == 1
				printf "gpa 0x%lx: not in the NPT (level %d slot %lu is 0x%lx)\n", $w_gpa, $w_level, $w_slot, $w_e
			end
			if $w_say == 2
				printf "gpa 0x%lx: not mapped: no ", $w_gpa
				kev-level-name $w_level
				printf " entry (slot %lu)\n", $w_slot
			end
			set $w_level = -1
		else
			if $w_level == 0 || (($w_level == 1 || $w_level == 2) && ($w_e & 0x80))
				set $w_size = 1UL << (12 + 9 * $w_level)
				set $hpa = ($w_e & 0x000FFFFFFFFFF000 & ~($w_size - 1)) | ($w_gpa & ($w_size - 1))
				set $hva = 0xFFFF800000000000 + $hpa
				if $w_say == 2
					printf "gpa 0x%lx -> hpa 0x%lx (a %lu KiB page)\n", $w_gpa, $hpa, $w_size >> 10
				end
				set $w_level = -1
			else
				set $w_table = (unsigned long *)(0xFFFF800000000000 + ($w_e & 0x000FFFFFFFFFF000))
				set $w_level = $w_level - 1
			end
		end
	end
end

define npt-gpa2hva
	if $argc != 2
		echo usage: npt-gpa2hva PML4 GPA   (two words: npt-gpa2hva vcpu->vm->npt->pml4 0x1000000)\n
	else
		npt-walk-from $arg0 $arg1 1
	end
end
document npt-gpa2hva
npt-gpa2hva PML4 GPA: walk the nested page table whose root is PML4 (kernel virtual, e.g.
vcpu->vm->npt->pml4) for GPA, the way the CPU does (2 MiB / 1 GiB pages included). Sets
$hva to the host kernel address of that byte, or 0 and says at which level it stopped.
end

define npt-walk
	if $argc < 1 || $argc > 2
		echo usage: npt-walk GPA [VM]   (VM: a struct vm *, default $vm)\n
	else
		if $argc == 2
			kev-pick-vm $arg1
		else
			kev-pick-vm
		end
		if $kv_ok
			printf "npt of %s (root 0x%lx), gpa 0x%lx:\n", $kv_name, $kv_pml4, (unsigned long)($arg0)
			npt-walk-from $kv_pml4 $arg0 2
		end
	end
end
document npt-walk
npt-walk GPA [VM]: the NPT walk for GPA, one line per level: the slot and its entry
decoded (address, P RW US PS NX), ending in the host physical address or in the level
whose entry is missing. VM (a struct vm *) defaults to $vm. Sets $hpa and $hva.
end

# gpt-walk-from CR3 GVA SAY: the guest's own walk for GVA from CR3 (guest-physical), each
# entry read through the NPT of $kv_pml4. SAY 1: say where it stopped; 2: every level
# too. Sets $gpa, or -1 when the walk stops (a table not in the NPT, an entry not present).
define gpt-walk-from
	set $gw_table = (unsigned long)($arg0) & 0x000FFFFFFFFFF000
	set $gw_gva = (unsigned long)($arg1)
	set $gw_say = $arg2
	set $gw_level = 3
	set $gpa = -1
	while $gw_level >= 0
		set $gw_slot = ($gw_gva >> (12 + 9 * $gw_level)) & 0x1ff
		set $gw_egpa = $gw_table + 8 * $gw_slot
		set $gw_name = 4 * $gw_level
		npt-walk-from $kv_pml4 $gw_egpa 1
		if $hva == 0
			printf "gva 0x%lx: the guest's ", $gw_gva
			kev-level-name $gw_level
			printf " table at gpa 0x%lx is not in the NPT\n", $gw_table
			set $gw_level = -1
		else
			set $gw_e = *(unsigned long *)$hva
			if $gw_say == 2
				printf "  %c%c%c%c[%3lu] at gpa 0x%lx = hpa 0x%lx: ", $kev_levels[$gw_name], $kev_levels[$gw_name + 1], $kev_levels[$gw_name + 2], $kev_levels[$gw_name + 3], $gw_slot, $gw_egpa, $hpa
				npte $gw_e
			end
			if !($gw_e & 1)
				printf "gva 0x%lx: not mapped by the guest (level %d entry 0x%lx)\n", $gw_gva, $gw_level, $gw_e
				set $gw_level = -1
			else
				if $gw_level == 0 || (($gw_level == 1 || $gw_level == 2) && ($gw_e & 0x80))
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

define guest-gva2gpa
	if $argc != 2
		echo usage: guest-gva2gpa VCPU GVA   (two words: guest-gva2gpa vcpu $rip)\n
	else
		set $gg_vcpu = (struct vcpu *)($arg0)
		set $gg_gva = (unsigned long)($arg1)
		kev-vm $gg_vcpu->vm
		if !($gg_vcpu->vmcb->save.cr0 & 0x80000000)
			set $gpa = $gg_gva & 0xffffffff
		else
			gpt-walk-from $gg_vcpu->vmcb->save.cr3 $gg_gva 1
		end
	end
end
document guest-gva2gpa
guest-gva2gpa VCPU GVA: translate a guest-virtual address with the guest's own page table
(CR3 from the vCPU's VMCB; identity while its paging is off), reading the guest's tables
through the NPT. Sets $gpa, or -1 and says where the walk stopped.
end

define gpt-walk
	if $argc < 2 || $argc > 3
		echo usage: gpt-walk CR3 GVA [VM]   (gpt-walk vcpu->vmcb->save.cr3 $rip; VM default $vm)\n
	else
		if $argc == 3
			kev-pick-vm $arg2
		else
			kev-pick-vm
		end
		if $kv_ok
			set $gt_cr3 = (unsigned long)($arg0)
			set $gt_gva = (unsigned long)($arg1)
			printf "guest walk of gva 0x%lx from cr3 0x%lx, read through the npt of %s:\n", $gt_gva, $gt_cr3, $kv_name
			gpt-walk-from $gt_cr3 $gt_gva 2
			if $gpa != -1
				npt-walk-from $kv_pml4 $gpa 1
				if $hva != 0
					printf "gva 0x%lx -> gpa 0x%lx -> hpa 0x%lx\n", $gt_gva, $gpa, $hpa
				else
					printf "gva 0x%lx -> gpa 0x%lx, which the NPT does not map (yet)\n", $gt_gva, $gpa
				end
			end
		end
	end
end
document gpt-walk
gpt-walk CR3 GVA [VM]: the guest's own page walk for GVA from CR3 (a guest-physical
address, e.g. vcpu->vmcb->save.cr3), one line per level: where the guest's entry is
(gpa, and the hpa the NPT gives it) and the entry decoded; then gva -> gpa -> hpa. Each
table is read through the NPT, as the CPU does in a nested walk. Sets $gpa and $hpa.
end

define pager-loaders
	if $argc < 1 || $argc > 2
		echo usage: pager-loaders GPA [VM]   (VM: a struct vm *, default $vm)\n
	else
		if $argc == 2
			kev-pick-vm $arg1
		else
			kev-pick-vm
		end
		if $kv_ok && $kv_pager == 0
			printf "%s has no lazy pager (its fault handler is not pager_fault)\n", $kv_name
		end
		if $kv_ok && $kv_pager != 0
			set $pl_gpa = (unsigned long)($arg0) & ~0xfffUL
			# bucket_of() of the provided pager code: the page number modulo the bucket count
			set $pl = $kv_pager->buckets[($pl_gpa >> 12) % (sizeof($kv_pager->buckets) / sizeof($kv_pager->buckets[0]))]
			set $pl_n = 0
			while $pl != 0
				if $pl->gpa == $pl_gpa
					set $pl_n = $pl_n + 1
					printf "  loader %d: %u bytes from file offset 0x%lx to page offset 0x%x, ran %u times\n", $pl_n, $pl->file_len, $pl->file_off, $pl->page_off, $pl->loads
				end
				set $pl = $pl->next
			end
			npt-walk-from $kv_pml4 $pl_gpa 0
			printf "gpa 0x%lx of %s: %d loaders", $pl_gpa, $kv_name, $pl_n
			if $pl_n == 0
				printf " (not an image page: a fault hands out a zeroed page)"
			end
			if $hva != 0
				printf "; mapped at hpa 0x%lx\n", $hpa
			else
				printf "; not mapped\n"
			end
		end
	end
end
document pager-loaders
pager-loaders GPA [VM]: the loaders the lazy pager registered for GPA's page (file bytes,
file offset, page offset) and how often each ran (page_loader.loads, counted by
pager_run_loader), and whether the NPT maps the page. VM defaults to $vm.
end

define guest-insn
	if $argc != 1
		echo usage: guest-insn VCPU   (a struct vcpu *, one word: guest-insn vcpu)\n
	else
		set $gi_vcpu = (struct vcpu *)($arg0)
		set $gi_rip = $gi_vcpu->vmcb->save.rip
		guest-gva2gpa $gi_vcpu $gi_rip
		if $gpa != -1
			npt-walk-from $kv_pml4 $gpa 1
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
# A batch run (make gdb GDBCMDS=) names a session file of its own in $kev_session.
if !$_isvoid($kev_session)
	eval "source %s", $kev_session
else
	shell test -f build/gdb-session.gdb
	if $_shell_exitcode == 0
		source build/gdb-session.gdb
	else
		echo .gdbinit: no build/gdb-session.gdb: start QEMU first with `make run-gdb` (in another\n
		echo .gdbinit: terminal), then `make gdb`, from the top of the repository.\n
	end
end
