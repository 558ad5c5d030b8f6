/*
 * kev_abi.h: the hypercall interface between KeV and its guests, the one
 * place that numbers it. Plain #defines only: kev's C, the guests' C and
 * assembly, and the grader's Python (grader/harness/cheader.py) all read it.
 *
 * A guest calls VMMCALL with the hypercall number in RAX and the arguments
 * in RDI and RSI.
 */
#pragma once

#define HC_EXIT	 0 /* end this vCPU with exit code RDI */
#define HC_PRINT 1 /* print RSI bytes at guest-virtual address RDI */
