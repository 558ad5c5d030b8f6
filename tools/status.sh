#!/bin/sh
# status.sh STATUS: name the verdict behind QEMU's exit status (see keos/printk.h).
case "$1" in
33) v="PASS" ;;
35) v="FAIL (a check failed: see TEST-FAIL above)" ;;
37) v="PANIC (see the backtrace above)" ;;
39) v="NOT IMPLEMENTED (a TODO() stub was reached)" ;;
41) v="UNSUPPORTED (this CPU has no SVM/NPT)" ;;
0) v="RESET (a triple fault, or QEMU was stopped)" ;;
*) v="unexpected status" ;;
esac
echo "QEMU exit status $1: $v"
