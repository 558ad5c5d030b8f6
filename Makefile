# KeOS + KeV, Project 3 — the one Makefile.
#
#   make              build the kernel (build/kernel.elf) and the disk image
#   make run          boot it in QEMU (TEST=name or TEST='group.*' picks tests,
#                     TEST=project3 every graded test); fails unless the verdict is PASS
#   make iso          the GRUB ISO (build/keos.iso); BOOT=iso boots it everywhere
#   make run-gdb      boot paused, waiting for gdb;  make gdb  attaches gdb
#   make gdb GDBCMDS=f.gdb TEST=...   QEMU paused, gdb runs f.gdb, QEMU stopped (batch)
#   make faultmap     run TEST and draw which guest pages the lazy pager loaded
#   make record       record TEST for replay;  make replay-gdb  replay it for gdb (backwards)
#   make check        the project's whole test suite (host tests + kernel tests)
#   make grade        Project 3's score
#   make bench        time the grade (N=5 runs of each test; SOLUTION=1 for the reference)
#   make bench-claims issue 10's claims on the reference (stress, concurrency mutants, boots)
#   make submit       pack the files to hand in (build/submit/)
#   make gradescope   the Gradescope autograder (build/gradescope/autograder.zip)
#   make format       reformat the C sources (.clang-format)
#   make handout      export the student tree (no solution/) to build/handout
#   SOLUTION=1        with any of these: use the reference solution (TAs only)
#   TOOLCHAIN=llvm    clang and ld.lld instead of gcc and ld (see below); CROSS=prefix-
#
# Everything runs under QEMU's software emulation (TCG), never KVM: see README.md.

.DEFAULT_GOAL := all
# SMP=n: vCPUs for make run (default: grader/harness/qemu.py's SMP).
# The main job: boot the guest KeOS through the lazy pager. TEST='npt.*' etc. picks others.
TEST ?= pager.boot_keos
PYTHON ?= /usr/bin/python3
# V=1 shows every command.
Q := $(if $(V),,@)
# A per-user gdb port, so that two students on one machine do not collide.
GDBPORT ?= $(shell expr `id -u` % 5000 + 25000)

# ---- the toolchain: the one place that knows compilers ----
#
#   TOOLCHAIN=gnu        gcc, ld, nm (native on x86-64 Linux; with CROSS=, a cross toolchain)
#   TOOLCHAIN=llvm       clang --target=x86_64-unknown-none-elf, ld.lld, llvm-nm
#   CROSS=x86_64-elf-    a GNU cross toolchain (Homebrew's x86_64-elf-gcc, Debian's
#                        gcc-x86-64-linux-gnu on arm64): TOOLCHAIN=gnu with that prefix
#   nothing              the first of those that works here, named in one line
#
# Each toolchain given by name builds into its own directory (build/llvm, build/gnu,
# build/cross-PREFIX); the one picked automatically into build/.

have = $(shell command -v $(1) >/dev/null 2>&1 && echo yes)
HOST_OS := $(shell uname -s)
HOST_ARCH := $(shell uname -m)

ifdef CROSS
TOOLCHAIN ?= gnu
endif
ifdef TOOLCHAIN
OUT := build/$(if $(CROSS),cross-$(CROSS:%-=%),$(TOOLCHAIN))
# For the harness when it runs make itself (grader/harness/plugin.py).
TC_VARS := TOOLCHAIN=$(TOOLCHAIN)$(if $(CROSS), CROSS=$(CROSS))
else
OUT := build
ifeq ($(HOST_OS)-$(HOST_ARCH)$(call have,gcc)$(call have,ld),Linux-x86_64yesyes)
TOOLCHAIN := gnu
TC_WHY := native gcc and ld on x86-64 Linux
else ifeq ($(call have,clang)$(call have,ld.lld)$(call have,llvm-nm),yesyesyes)
TOOLCHAIN := llvm
TC_WHY := clang, ld.lld and llvm-nm
else ifeq ($(call have,x86_64-elf-gcc),yes)
TOOLCHAIN := gnu
CROSS := x86_64-elf-
TC_WHY := the x86_64-elf- cross toolchain
else ifeq ($(call have,x86_64-linux-gnu-gcc),yes)
TOOLCHAIN := gnu
CROSS := x86_64-linux-gnu-
TC_WHY := the x86_64-linux-gnu- cross toolchain
else
TOOLCHAIN_MISSING := yes
endif
ifeq ($(MAKELEVEL),0)
ifndef TOOLCHAIN_MISSING
$(info toolchain: $(TOOLCHAIN), $(TC_WHY) (TOOLCHAIN=gnu|llvm or CROSS=prefix- to choose))
endif
endif
endif

ifeq ($(TOOLCHAIN),gnu)
CC := $(CROSS)gcc
LD := $(CROSS)ld
NM := $(CROSS)nm
OBJDUMP := $(CROSS)objdump
# binutils >= 2.39 warns about the boot code's RWX segment; older ones lack the flag.
LD_NOWARN := $(if $(shell $(LD) --help 2>/dev/null | grep no-warn-rwx-segments),--no-warn-rwx-segments)
# Keep .ktests entries, and so the test runs, in source order (clang does so by itself).
CC_ORDER := -fno-toplevel-reorder
else ifeq ($(TOOLCHAIN),llvm)
CC := clang --target=x86_64-unknown-none-elf
LD := ld.lld
NM := llvm-nm
OBJDUMP := llvm-objdump
LD_NOWARN :=
CC_ORDER :=
else ifndef TOOLCHAIN_MISSING
$(error TOOLCHAIN=$(TOOLCHAIN): use TOOLCHAIN=gnu, TOOLCHAIN=llvm or CROSS=x86_64-elf-)
endif

# No x86-64 compiler at all: one message naming this host's packages.
ifeq ($(HOST_OS),Darwin)
TC_PACKAGES := brew install llvm lld   (then put $$(brew --prefix llvm)/bin on PATH), or brew install x86_64-elf-gcc
else ifneq ($(wildcard /etc/debian_version),)
TC_PACKAGES := sudo apt-get install clang lld llvm$(if $(filter x86_64,$(HOST_ARCH)),   (or: build-essential))
else ifneq ($(wildcard /etc/fedora-release),)
TC_PACKAGES := sudo dnf install clang lld llvm
else ifneq ($(wildcard /etc/arch-release),)
TC_PACKAGES := sudo pacman -S clang lld llvm
else
TC_PACKAGES := install clang, lld and llvm (or an x86_64-elf- GNU cross toolchain)
endif
toolchain-ok:
ifdef TOOLCHAIN_MISSING
	@echo "no x86-64 toolchain found (tried gcc+ld on x86-64 Linux, clang+ld.lld+llvm-nm," \
		"x86_64-elf-gcc, x86_64-linux-gnu-gcc): $(TC_PACKAGES)"; exit 1
else
	@command -v $(firstword $(CC)) >/dev/null && command -v $(LD) >/dev/null && \
		command -v $(NM) >/dev/null || { echo "TOOLCHAIN=$(TOOLCHAIN): $(firstword $(CC))," \
		"$(LD) or $(NM) is missing: $(TC_PACKAGES)"; exit 1; }
endif

# Objects depend on this file, rewritten only when the toolchain changes: build/ is
# rebuilt, not mixed, when the automatic choice differs from the last one.
TC_STAMP := $(OUT)/toolchain.id
ifndef TOOLCHAIN_MISSING
$(shell mkdir -p $(OUT) && { [ "`cat $(TC_STAMP) 2>/dev/null`" = "$(TOOLCHAIN) $(CC) $(LD)" ] || \
	echo "$(TOOLCHAIN) $(CC) $(LD)" > $(TC_STAMP); })
endif

# SOLUTION=1 builds the reference solution (solution/project3/*.c in place of
# the student's project3/*.c) into its own directory. Students do not get it.
ifdef SOLUTION
ifeq ($(wildcard solution/project3),)
$(error SOLUTION=1: there is no solution/ here (the student handout does not have one))
endif
B := $(OUT)/solution
else
B := $(OUT)
endif
# The disk image, the guests and the host tools: shared by the student and solution builds.
D := $(OUT)

# ---- the kernel (keos + kev + project3) ----

KCFLAGS := -std=gnu11 -Wall -Wextra -Werror -O2 -g -ffreestanding -fno-pic -fno-pie \
	-mno-red-zone -mcmodel=kernel -mno-sse -mno-sse2 -mno-mmx -mno-avx \
	-fno-stack-protector -fno-omit-frame-pointer -fno-strict-aliasing \
	-fno-asynchronous-unwind-tables $(CC_ORDER) -MMD -MP
# Layers by include path: each layer sees its own headers and those of the layers below.
# keos (the kernel) sees keos/; kev (the hypervisor) keos/ and kev/; Project 3 (the
# student's files, the assignment's provided glue in project3/provided/, its tests) all
# three. abi/ holds what kev and its guests share. grader/test_layers.py checks every
# #include against this.
KEOS_INC := -Ikeos
KEV_INC := $(KEOS_INC) -Ikev -Iabi
P3_INC := $(KEV_INC) -Iproject3 -Iproject3/provided
# The flags a student file compiles with (grader/harness/policy.py asks for them).
P3_CFLAGS = $(KCFLAGS) $(P3_INC)
KLDFLAGS := -nostdlib -z max-page-size=0x1000 -z noexecstack $(LD_NOWARN) -T keos/linker.ld

P3_SRCS := $(wildcard project3/*.c)
ifdef SOLUTION
P3_SRCS := $(foreach f,$(P3_SRCS),$(if $(wildcard solution/$(f)),solution/$(f),$(f)))
endif
KERNEL_SRCS := $(wildcard keos/*.c keos/*.S keos/tests/*.c kev/*.c kev/*.S kev/tests/*.c \
	kev/tests/*.S project3/provided/*.c project3/tests/*.c project3/tests/*.S) $(P3_SRCS)
KERNEL_OBJS := $(patsubst %,$(B)/%.o,$(KERNEL_SRCS))

# Each object sees its own layer's headers (KEOS_INC ... above).
$(B)/keos/%: LAYER_INC := $(KEOS_INC)
$(B)/kev/%: LAYER_INC := $(KEV_INC)
$(B)/project3/% $(B)/solution/project3/%: LAYER_INC := $(P3_INC)

# BOOT=direct (the default): QEMU loads build/kernel.elf itself (-kernel, multiboot1).
# BOOT=iso: SeaBIOS and GRUB boot build/keos.iso (multiboot2), as on a real PC.
BOOT ?= direct
ifeq ($(BOOT),direct)
IMAGE := $(B)/kernel.elf
else ifeq ($(BOOT),iso)
IMAGE := $(B)/keos.iso
else
$(error BOOT=$(BOOT): use BOOT=direct (the default) or BOOT=iso)
endif

all: $(IMAGE) $(D)/disk.img

iso: $(B)/keos.iso

$(B)/%.c.o: %.c $(TC_STAMP) | tools-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(KCFLAGS) $(LAYER_INC) -c $< -o $@

$(B)/%.S.o: %.S $(TC_STAMP) | tools-ok
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	$(Q)$(CC) $(KCFLAGS) $(LAYER_INC) -c $< -o $@

# Linked twice: the second time with the symbol table that backtraces print
# (tools/mksyms.sh). It sits after everything else, so no function moves.
$(B)/kernel.elf: $(KERNEL_OBJS) keos/linker.ld tools/mksyms.sh
	@echo "  LD      $@"
	$(Q)NM='$(NM)' tools/mksyms.sh > $(B)/ksyms0.S
	$(Q)$(CC) $(KCFLAGS) -c $(B)/ksyms0.S -o $(B)/ksyms0.o
	$(Q)$(LD) $(KLDFLAGS) -o $(B)/kernel.tmp $(KERNEL_OBJS) $(B)/ksyms0.o
	$(Q)NM='$(NM)' tools/mksyms.sh $(B)/kernel.tmp > $(B)/ksyms.S
	$(Q)$(CC) $(KCFLAGS) -c $(B)/ksyms.S -o $(B)/ksyms.o
	$(Q)$(LD) $(KLDFLAGS) -o $@ $(KERNEL_OBJS) $(B)/ksyms.o

$(B)/keos.iso: $(B)/kernel.elf keos/grub.cfg | iso-tools-ok
	@mkdir -p $(B)/iso/boot/grub
	@echo "  ISO     $@"
	$(Q)cp $(B)/kernel.elf $(B)/iso/boot/keos.elf
	$(Q)cp keos/grub.cfg $(B)/iso/boot/grub/grub.cfg
	$(Q)grub-mkrescue -o $@ $(B)/iso 2> $(B)/grub-mkrescue.log || \
		{ cat $(B)/grub-mkrescue.log; exit 1; }

# ---- host tools and the disk image ----

include tools/host.mk

# Host tools and the disk image are the same for the student and solution builds.
$(D)/tools/%: tools/%.c
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOSTCFLAGS) $< -o $@

# The instruction decoder's host test driver (grader/test_insn.py).
build/host/insn_driver: grader/host/insn_driver.c kev/insn.c kev/insn.h
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_TEST_CFLAGS) -Ikeos -Ikev -o $@ $(filter %.c,$^)

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
# The stamp first, so that the files are newer than it (a failure deletes it again).
$(D)/rootfs/bad-elfs.stamp: $(D)/tools/mkbadelf $(D)/guests/keos.elf
	@mkdir -p $(D)/rootfs
	@touch $@
	$(D)/tools/mkbadelf $(D)/guests/keos.elf $(D)/rootfs

DISK_FILES := $(ROOTFS_FILES) $(D)/rootfs/big.bin $(GUEST_ELFS) $(BAD_ELFS)

$(D)/disk.img: $(D)/tools/mkrootfs $(DISK_FILES)
	$(D)/tools/mkrootfs $@ $(DISK_FILES)

# ---- running: grader/harness builds the QEMU command line (python3 -m harness) ----

# What the harness must know about this build (grader/harness/qemu.py, plugin.py).
KEOS_ENV := KEOS_BUILD=$(OUT) KEOS_BOOT=$(BOOT) KEOS_MAKE_VARS='$(TC_VARS)'
HARNESS := PYTHONPATH=grader $(KEOS_ENV) $(PYTHON) -m harness \
	--image $(IMAGE) --disk $(D)/disk.img $(if $(SMP),--smp $(SMP))

# Prints the serial output, then the verdict; fails unless the verdict is PASS.
run: all
	@$(HARNESS) '$(TEST)'

# gdb: `make gdb` (or plain gdb, through .gdbinit) loads build/gdb-session.gdb, which
# names this build's kernel and port; run-gdb and gdb both write it.
define write-gdb-session
	@PYTHONPATH=grader $(PYTHON) -m harness.gdb_batch --write-session \
		--kernel $(B)/kernel.elf --port $(GDBPORT)
endef

run-gdb: all
	$(write-gdb-session)
	@echo "QEMU is paused; in another terminal run: make gdb   (port $(GDBPORT))"
	@$(HARNESS) --gdb $(GDBPORT) '$(TEST)'

# make gdb: gdb on the QEMU that `make run-gdb` started (another terminal). Nothing listening
# on the port: said at once (gdb itself would retry for 15 s). gdb reading end-of-file would
# detach at once and leave QEMU running: refuse to start without a terminal.
# make gdb GDBCMDS=f.gdb: batch. QEMU paused on TEST, gdb runs f.gdb, QEMU stopped by its
# PID (grader/harness/gdb_batch.py builds QEMU's command line with qemu_args).
ifdef GDBCMDS
gdb: all
	PYTHONPATH=grader $(KEOS_ENV) $(PYTHON) -m harness.gdb_batch --image $(IMAGE) \
		--kernel $(B)/kernel.elf --port $(GDBPORT) --test '$(TEST)' $(GDBCMDS)
else
gdb:
	@test -f $(B)/kernel.elf || { echo "no $(B)/kernel.elf: run make$(if $(SOLUTION), SOLUTION=1) first"; exit 1; }
	@PYTHONPATH=grader $(PYTHON) -m harness.gdb_batch --check-listening --port $(GDBPORT)
	@test -t 0 || { echo "make gdb needs a terminal; for a script: make gdb GDBCMDS=f.gdb"; exit 2; }
	$(write-gdb-session)
	gdb -q -nx -x .gdbinit
endif

# The older name of make gdb GDBCMDS=f.gdb.
gdb-batch:
	@test -n "$(CMDS)" || { echo "usage: make gdb GDBCMDS=script.gdb [TEST=...]"; exit 2; }
	@$(MAKE) --no-print-directory gdb GDBCMDS='$(CMDS)'

# Record TEST under QEMU's record/replay (one vCPU) into build/replay/; replay it
# paused for gdb (then `make gdb`): gdb can run backwards. handouts/debugging.md.
record: all
	@$(KEOS_ENV) $(PYTHON) grader/replay.py record '$(TEST)' --image $(IMAGE)

replay-gdb:
	@$(KEOS_ENV) $(PYTHON) grader/replay.py gdb --port $(GDBPORT)

# Run TEST (default the guest KeOS boot) and show its fault map: terminal and SVG.
faultmap: all
	@$(KEOS_ENV) $(PYTHON) grader/faultmap.py --run '$(TEST)' --image $(IMAGE)

# ---- tests ----

PYTEST := $(KEOS_ENV) $(PYTHON) -m pytest -c grader/pytest.ini

# Project 3's score (SOLUTION=1 grades the reference). The student's files are held to
# the policy (grader/harness/policy.py) before they are built, and their objects after.
# RESULTS=x.json and JUNIT=x.xml also write the results for a program to read
# (harness/report.py).
P3_OBJS := $(patsubst %,$(B)/%.o,$(P3_SRCS))
grade:
	$(Q)if $(PYTHON) grader/grade.py --policy-only --sources $(P3_SRCS); then \
		$(MAKE) --no-print-directory all && NM="$(NM)" OBJDUMP="$(OBJDUMP)" \
		$(PYTHON) grader/grade.py --image $(IMAGE) --disk $(D)/disk.img \
			--sources $(P3_SRCS) --objects $(P3_OBJS) \
			$(if $(RESULTS),--results $(RESULTS)) $(if $(JUNIT),--junit $(JUNIT)); \
	fi

# Time every graded test, the boot floor and the whole grade (N runs; build/bench.json).
N ?= 5
bench: all
	$(KEOS_ENV) $(PYTHON) grader/bench.py --image $(IMAGE) --disk $(D)/disk.img -n $(N)

# Issue 10's claims on the reference, in one run: pager.stress's time and concurrency (20
# runs), the concurrency mutants caught (20 runs each), the grade with each boot (5 runs
# each). Writes build/bench-claims.json.
bench-claims:
	$(MAKE) --no-print-directory SOLUTION=1 all
	$(MAKE) --no-print-directory SOLUTION=1 BOOT=iso iso
	$(KEOS_ENV) $(PYTHON) grader/bench_claims.py

# Hand in: build/submit/project3-<user>-<time>.tar.gz with the student files and a
# manifest (grader/submit.py). FORCE=1 packs even the untouched stubs.
submit:
	$(Q)$(PYTHON) grader/submit.py $(if $(filter 1,$(FORCE)),--force)

# The Gradescope autograder (grader/gradescope.py): setup.sh, run_autograder and the
# course at HEAD without solution/, in build/gradescope/autograder.zip.
gradescope:
	$(Q)$(PYTHON) grader/gradescope.py zip $(D)/gradescope/autograder.zip

# Everything: host tests, kernel tests on the student and reference builds,
# the grader's own checks (mutants included), the reference graded in other
# configurations (grader/test_configs.py).
# CHECK_JOBS: pytest-xdist workers, and make's jobs for the two builds before them
# (a clean build takes 6.9 s alone, 3.3 s with -j2 on 2 cores). One more worker than
# this machine's 2 cores: some tests wait (on a lock, a timeout, a process to end), and
# the third fills in (warm, 2026-11-26 evening, interleaved: 60.0 and 58.6 s with 3
# workers, 66.4 and 64.7 s with 2; a fourth gained nothing: 60.0 and 57.6 s against 60.5
# and 57.4 s).
CHECK_JOBS ?= 3
check: pytest-ok
	$(MAKE) --no-print-directory -j$(CHECK_JOBS) all
	$(if $(wildcard solution/project3),$(MAKE) --no-print-directory -j$(CHECK_JOBS) SOLUTION=1 all)
	$(PYTEST) -n $(CHECK_JOBS) grader

# ---- prerequisites ----

# Say which package is missing instead of failing obscurely (names are Debian's;
# tools/install-deps.sh knows the other hosts').
INSTALL_HINT := (tools/install-deps.sh installs it; on Debian:
# Is Python module $(1) installed for $(PYTHON)? Found, not imported (importing pytest and
# xdist took 0.35 s of CPU).
has_module = $(PYTHON) -c 'import importlib.util as u, sys; sys.exit(not u.find_spec("$(1)"))' \
	2>/dev/null

tools-ok: toolchain-ok
	@command -v qemu-system-x86_64 >/dev/null || { echo "missing qemu-system-x86_64" \
		"$(INSTALL_HINT) sudo apt-get install qemu-system-x86)"; exit 1; }

# Only make check runs pytest: a build does not ask for it (two Pythons started for
# these checks were most of a kernel build's CPU where there was little to compile).
pytest-ok:
	@$(call has_module,pytest) || { echo "missing pytest for $(PYTHON)" \
		"$(INSTALL_HINT) sudo apt-get install python3-pytest)"; exit 1; }
	@$(call has_module,xdist) || { echo "missing pytest-xdist for $(PYTHON)" \
		"$(INSTALL_HINT) sudo apt-get install python3-pytest-xdist)"; exit 1; }

# Only the ISO needs GRUB, and GRUB's BIOS files exist for x86 hosts only.
iso-tools-ok:
	@for p in grub-mkrescue:grub-common xorriso:xorriso mformat:mtools; do \
		cmd=$${p%%:*}; pkg=$${p##*:}; \
		command -v $$cmd >/dev/null || { echo "BOOT=iso / make iso: missing $$cmd:" \
			"sudo apt-get install $$pkg (or use the direct boot, BOOT=direct)"; exit 1; }; \
	done
	@test -d /usr/lib/grub/i386-pc || { echo "BOOT=iso / make iso: GRUB's BIOS files are" \
		"missing: sudo apt-get install grub-pc-bin (packaged for x86 hosts only; elsewhere" \
		"use the direct boot, BOOT=direct, the default)"; exit 1; }

# Reformat the C sources with .clang-format (make check tests that they are).
format:
	clang-format -i --style=file $(shell find keos kev project3 guests tools \
		$(wildcard solution grader/policy_fixtures) -name '*.[ch]')

# The student's tree: no solution/, no mutants; checked (tools/mkhandout.sh).
HANDOUT ?= build/handout
handout:
	rm -rf $(HANDOUT)
	PYTHON=$(PYTHON) tools/mkhandout.sh $(HANDOUT)

clean:
	rm -rf build

# `make -s print-KCFLAGS`: a variable's value, for tools that must agree with this file
# (grader/harness/policy.py compiles student files with the kernel's flags).
print-%:
	@echo '$($*)'

.PHONY: all iso run run-gdb gdb gdb-batch faultmap record replay-gdb check grade bench bench-claims clean \
	tools-ok toolchain-ok pytest-ok iso-tools-ok handout format submit gradescope
.DELETE_ON_ERROR:
# Dependency files named from the object lists, the guests' too (whichever B this is).
-include $(KERNEL_OBJS:.o=.d) $(GUEST_OBJS:.o=.d)
