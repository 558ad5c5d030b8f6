#!/bin/sh
# mksyms.sh KERNEL.elf > ksyms.S
# Emit the kernel's function symbols, sorted by address, as a .ksyms section
# for backtraces. With no argument, emit an empty table (the first link pass).
set -e
echo '	.section .ksyms, "a"'
echo '	.globl ksyms, ksyms_count'
echo '	.align 8'
if [ -z "$1" ]; then
	echo 'ksyms_count: .quad 0'
	echo 'ksyms:'
	exit 0
fi
${NM:-nm} -n --defined-only "$1" | awk '
	BEGIN { n = 0 }
	$2 ~ /^[tTwW]$/ { addr[n] = $1; name[n] = $3; n++ }
	END {
		printf "ksyms_count: .quad %d\n", n
		print "ksyms:"
		for (i = 0; i < n; i++)
			printf "\t.quad 0x%s, .Lsym%d\n", addr[i], i
		for (i = 0; i < n; i++)
			printf ".Lsym%d: .asciz \"%s\"\n", i, name[i]
	}'
