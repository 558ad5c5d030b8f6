# tools/host.mk: the one definition of how programs for the machine we build ON are
# compiled (tools/*.c, grader/host/*). Included by the Makefile and grader/host/npt.mk.
# The kernel's own compiler is chosen separately (TOOLCHAIN, CROSS in the Makefile).

# cc where there is one; else clang (a host with only the LLVM packages installed).
HOSTCC ?= $(if $(shell command -v cc 2>/dev/null),cc,clang)
HOSTCFLAGS := -std=gnu11 -Wall -Wextra -Werror -O2 -g
# AddressSanitizer and UBSan where this compiler has them (empty where it does not).
# Asked only when a host test program is built, and once: linking the probe with the
# sanitizers' runtime took 50 ms, most of every `make`, and make check runs make 70 times.
HOST_SANITIZE = $(eval HOST_SANITIZE := $(shell echo 'int main(void) { return 0; }' | \
	$(HOSTCC) -x c -fsanitize=address,undefined -o /dev/null - >/dev/null 2>&1 && \
	echo -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer))$(HOST_SANITIZE)
# The grader's host test programs (grader/host/*): sanitized, and -O1 so that a report
# still shows the frames it happened in.
HOST_TEST_CFLAGS = $(HOSTCFLAGS) -O1 $(HOST_SANITIZE)
