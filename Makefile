# KeOS + KeV, Project 3 — the one Makefile.
#
#   make              build the kernel ISO and the disk image
#   make run          boot it in QEMU (TEST=name or TEST='group.*' picks tests)
#   make run-gdb      boot paused, waiting for gdb;  make gdb  attaches gdb
#   make gdb-batch TEST=... CMDS=f.gdb   QEMU paused, gdb runs f.gdb, QEMU stopped
#   make check        the project's whole test suite (host tests + kernel tests)
#   make grade        Project 3's score
#   make format       reformat the C sources (.clang-format)
#   make handout      export the student tree (no solution/) to build/handout
#   SOLUTION=1        with any of these: use the reference solution (TAs only)
#
# Everything runs under QEMU's software emulation (TCG), never KVM: see README.md.

SMP ?= 4
MEM ?= 512M
# The main job: boot the guest KeOS through the lazy pager. TEST='npt.*' etc. picks others.
TEST ?= pager.boot_keos
PYTHON ?= /usr/bin/python3
# V=1 shows every command.
Q := $(if $(V),,@)
# A per-user gdb port, so that two students on one machine do not collide.
GDBPORT ?= $(shell expr `id -u` % 5000 + 25000)

# SOLUTION=1 builds the reference solution (solution/project3/*.c in place of
# the student's project3/*.c) into its own directory. Students do not get it.
ifdef SOLUTION
ifeq ($(wildcard solution/project3),)
$(error SOLUTION=1: there is no solution/ here (the student handout does not have one))
endif
B := build/solution
else
B := build
endif
D := build
CC := gcc
LD := ld

# ---- the kernel (keos + kev + project3) ----

KCFLAGS := -std=gnu11 -Wall -Wextra -Werror -O2 -g -ffreestanding -fno-pic -fno-pie \
	-mno-red-zone -mcmodel=kernel -mno-sse -mno-sse2 -mno-mmx -mno-avx \
	-fno-stack-protector -fno-omit-frame-pointer -fno-strict-aliasing \
	-fno-asynchronous-unwind-tables -fno-toplevel-reorder -Ikeos -Ikev -Iproject3 -MMD -MP
KLDFLAGS := -nostdlib -z max-page-size=0x1000 -z noexecstack --no-warn-rwx-segments -T keos/linker.ld

P3_SRCS := $(wildcard project3/*.c)
ifdef SOLUTION
P3_SRCS := $(foreach f,$(P3_SRCS),$(if $(wildcard solution/$(f)),solution/$(f),$(f)))
endif
KERNEL_SRCS := $(wildcard keos/*.c keos/*.S keos/tests/*.c kev/*.c kev/*.S kev/tests/*.c \
	kev/tests/*.S project3/tests/*.c project3/tests/*.S) $(P3_SRCS)
KERNEL_OBJS := $(patsubst %,$(B)/%.o,$(KERNEL_SRCS))

all: $(B)/keos.iso $(D)/disk.img

$(B)/%.c.o: %.c | tools-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(KCFLAGS) -c $< -o $@

$(B)/%.S.o: %.S | tools-ok
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	$(Q)$(CC) $(KCFLAGS) -c $< -o $@

# Linked twice: the second time with the symbol table that backtraces print
# (tools/mksyms.sh). It sits after everything else, so no function moves.
$(B)/kernel.elf: $(KERNEL_OBJS) keos/linker.ld tools/mksyms.sh
	@echo "  LD      $@"
	$(Q)tools/mksyms.sh > $(B)/ksyms0.S
	$(Q)$(CC) $(KCFLAGS) -c $(B)/ksyms0.S -o $(B)/ksyms0.o
	$(Q)$(LD) $(KLDFLAGS) -o $(B)/kernel.tmp $(KERNEL_OBJS) $(B)/ksyms0.o
	$(Q)tools/mksyms.sh $(B)/kernel.tmp > $(B)/ksyms.S
	$(Q)$(CC) $(KCFLAGS) -c $(B)/ksyms.S -o $(B)/ksyms.o
	$(Q)$(LD) $(KLDFLAGS) -o $@ $(KERNEL_OBJS) $(B)/ksyms.o

$(B)/keos.iso: $(B)/kernel.elf keos/grub.cfg
	@mkdir -p $(B)/iso/boot/grub
	@echo "  ISO     $@"
	$(Q)cp $(B)/kernel.elf $(B)/iso/boot/keos.elf
	$(Q)cp keos/grub.cfg $(B)/iso/boot/grub/grub.cfg
	$(Q)grub-mkrescue -o $@ $(B)/iso 2> $(B)/grub-mkrescue.log || \
		{ cat $(B)/grub-mkrescue.log; exit 1; }

# ---- host tools and the disk image ----

HOSTCFLAGS := -std=gnu11 -Wall -Wextra -Werror -O2 -g

# Host tools and the disk image are the same for both builds: always in build/.
$(D)/tools/%: tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(HOSTCFLAGS) $< -o $@

ROOTFS_FILES := $(sort $(filter-out rootfs/README.md,$(wildcard rootfs/*)))

# The guest kernels the pager boots (they go on the disk image).
include guests/Makefile.inc

# A 300 KiB file from a fixed-seed generator, so reads span many sectors and pages.
$(D)/rootfs/big.bin: $(D)/tools/mkrootfs
	@mkdir -p $(dir $@)
	$(D)/tools/mkrootfs --gen $@ 307323 1

# Damaged copies of the guest KeOS, one flaw each: kev must refuse them all.
BAD_ELFS := $(patsubst %,$(D)/rootfs/bad-%.elf,magic truncated phoff offset filesz paddr machine)
$(BAD_ELFS): $(D)/rootfs/bad-elfs.stamp ;
$(D)/rootfs/bad-elfs.stamp: $(D)/tools/mkbadelf $(D)/guests/keos.elf
	@mkdir -p $(D)/rootfs
	$(D)/tools/mkbadelf $(D)/guests/keos.elf $(D)/rootfs
	@touch $@

DISK_FILES := $(ROOTFS_FILES) $(D)/rootfs/big.bin $(GUEST_ELFS) $(BAD_ELFS)

$(D)/disk.img: $(D)/tools/mkrootfs $(DISK_FILES)
	$(D)/tools/mkrootfs $@ $(DISK_FILES)

# ---- running ----

comma := ,
QEMU := qemu-system-x86_64
QEMU_ARGS := -cpu qemu64,+svm,+npt -smp $(SMP) -accel tcg,thread=multi -m $(MEM) \
	-no-reboot -display none -monitor none \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-boot d -cdrom $(B)/keos.iso \
	-drive file=$(D)/disk.img,if=none,id=disk0,format=raw,readonly=on \
	-device virtio-blk-pci,drive=disk0,disable-modern=on \
	$(if $(TEST),-fw_cfg 'name=opt/keos/test$(comma)string=$(subst $(comma),$(comma)$(comma),$(TEST))')

# QEMU's exit status encodes the verdict (33 pass, 35 fail, 37 panic, 39 not
# implemented); `make run` names it (tools/status.sh) but does not fail on it.
run: all
	@$(QEMU) $(QEMU_ARGS) -serial stdio; tools/status.sh $$?

run-gdb: all
	@echo "target remote localhost:$(GDBPORT)" > $(B)/gdb-connect.gdb
	@echo "QEMU is paused; in another terminal run: make gdb   (port $(GDBPORT))"
	@$(QEMU) $(QEMU_ARGS) -serial stdio -S -gdb tcp:localhost:$(GDBPORT); tools/status.sh $$?

# gdb reading end-of-file would detach at once and leave QEMU running: refuse.
gdb:
	@test -t 0 || { echo "make gdb needs a terminal; for a script: make gdb-batch CMDS=f.gdb"; exit 2; }
	gdb -q -nx -x .gdbinit

# QEMU paused, the gdb script CMDS run in batch mode, QEMU stopped by its PID
# (grader/harness/gdb_batch.py builds QEMU's command line with qemu_args).
gdb-batch: all
	@test -n "$(CMDS)" || { echo "usage: make gdb-batch TEST=... CMDS=script.gdb"; exit 2; }
	PYTHONPATH=grader $(PYTHON) -m harness.gdb_batch --iso $(B)/keos.iso --port $(GDBPORT) \
		--test '$(TEST)' $(CMDS)

# ---- tests ----

PYTEST := $(PYTHON) -m pytest -c grader/pytest.ini

# Project 3's score (SOLUTION=1 grades the reference).
grade: all
	$(PYTHON) grader/grade.py --iso $(B)/keos.iso

# Everything: host tests, kernel tests on the student and reference builds,
# the grader's own checks (mutants included).
check: all
	$(if $(wildcard solution/project3),$(MAKE) SOLUTION=1 all)
	$(PYTEST) -n 2 grader

# ---- prerequisites ----

# Say which Debian package is missing instead of failing obscurely.
tools-ok:
	@for p in grub-mkrescue:grub-common xorriso:xorriso mformat:mtools \
		qemu-system-x86_64:qemu-system-x86; do \
		cmd=$${p%%:*}; pkg=$${p##*:}; \
		command -v $$cmd >/dev/null || { echo "missing $$cmd: sudo apt-get install $$pkg"; exit 1; }; \
	done
	@test -d /usr/lib/grub/i386-pc || { echo "missing GRUB BIOS files: sudo apt-get install grub-pc-bin"; exit 1; }
	@$(PYTHON) -c 'import pytest' 2>/dev/null || { echo "missing pytest for $(PYTHON): sudo apt-get install python3-pytest"; exit 1; }
	@$(PYTHON) -c 'import xdist' 2>/dev/null || { echo "missing pytest-xdist for $(PYTHON): sudo apt-get install python3-pytest-xdist"; exit 1; }

# Reformat the C sources with .clang-format (make check tests that they are).
format:
	clang-format -i --style=file $(shell find keos kev project3 guests tools \
		$(wildcard solution) -name '*.[ch]')

# The student's tree: no solution/, no mutants; checked (tools/mkhandout.sh).
HANDOUT ?= build/handout
handout:
	rm -rf $(HANDOUT)
	tools/mkhandout.sh $(HANDOUT)

clean:
	rm -rf build

.PHONY: all run run-gdb gdb gdb-batch check grade clean tools-ok handout format
.DELETE_ON_ERROR:
-include $(shell find $(B) -name '*.d' 2>/dev/null)
