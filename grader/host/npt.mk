# Host build of the NPT tests: project3/tests/npt_tests.c linked with an npt.c
# into an ordinary Linux program, under AddressSanitizer and UBSan where HOSTCC has them
# (tools/host.mk, shared with every other host-side build).
#
#   make -f grader/host/npt.mk            build/host/npt_student (+ npt_solution)
#   build/host/npt_student [name|prefix*]   run tests (see host_main.c)
#   make -f grader/host/npt.mk NPT_SRC=x.c OUT=dir/prog   any other npt.c
#   make -f grader/host/npt.mk build/host/npt_mutants/NAME/npt   from .../NAME/npt.c
#
# grader/host comes first on the include path: "mm.h" is the host shim there.

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/../..)
include $(ROOT)/tools/host.mk
B ?= $(ROOT)/build/host
CC = $(HOSTCC)
CFLAGS = $(HOST_TEST_CFLAGS) -I$(ROOT)/grader/host -I$(ROOT)/keos -I$(ROOT)/project3
LDFLAGS = $(HOST_SANITIZE) -Wl,-T,$(ROOT)/grader/host/ktests.ld

HEADERS = $(ROOT)/project3/npt.h $(ROOT)/grader/host/mm.h $(ROOT)/keos/test.h \
	  $(ROOT)/keos/printk.h $(ROOT)/keos/types.h
RT = $(B)/rt/host_main.o $(B)/rt/npt_tests.o $(B)/rt/npt_provided.o

NPT_SRC ?= $(ROOT)/project3/npt.c
OUT ?= $(B)/npt_student

PROGS = $(B)/npt_student
ifneq ($(wildcard $(ROOT)/solution/project3/npt.c),)
PROGS += $(B)/npt_solution
endif

.PHONY: all runtime
all: $(PROGS)
runtime: $(RT)

$(B)/rt/host_main.o: $(ROOT)/grader/host/host_main.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<
# -fno-toplevel-reorder: keep the .ktests entries, and so the run, in source order.
$(B)/rt/npt_tests.o: $(ROOT)/project3/tests/npt_tests.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fno-toplevel-reorder -c -o $@ $<
$(B)/rt/npt_provided.o: $(ROOT)/project3/provided/npt_provided.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/npt_solution: $(ROOT)/solution/project3/npt.c $(RT) $(ROOT)/grader/host/ktests.ld
	$(CC) $(CFLAGS) -o $@ $< $(RT) $(LDFLAGS)

# The mutants' programs (test_npt_host.py), as many as asked for in one make.
$(B)/npt_mutants/%/npt: $(B)/npt_mutants/%/npt.c $(RT) $(HEADERS) $(ROOT)/grader/host/ktests.ld
	$(CC) $(CFLAGS) -o $@ $< $(RT) $(LDFLAGS)

# The student program, or any other npt.c given as NPT_SRC / OUT.
ifneq ($(OUT),$(B)/npt_solution)
$(OUT): $(NPT_SRC) $(RT) $(HEADERS) $(ROOT)/grader/host/ktests.ld
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(NPT_SRC) $(RT) $(LDFLAGS)
endif
