/*
 * faultlog.h: the fault map's raw material. Every call of a VM's pager is
 * written into a fixed-size ring in the VM: which guest page, which vCPU,
 * when, and what came of it. Writing an event is a few stores under the
 * npt_lock the pager holds anyway; when the ring is full, later events are
 * counted as dropped. The host prints the ring as FAULTMAP lines on the
 * console when it destroys the VM, outside the time tests measure, or at
 * the end of vm_run if the run failed (a failing test may never get to
 * destroy its VM). The grader draws the maps (grader/harness/faultmap.py).
 */
#pragma once
#include "types.h"

struct vm;
struct elf_image;

#define FAULTLOG_EVENTS 4096
#define FAULTLOG_HOST	0xFF /* vcpu of a fault taken by the host (vm_read_gpa ...) */

/* What one call of the pager did, as the console shows it. */
enum fault_outcome {
	FAULT_LOADED = 'L', /* an image page: its loaders ran */
	FAULT_ZERO = 'Z',   /* RAM outside the image: a zeroed page */
	FAULT_RACED = 'R',  /* another vCPU had mapped the page meanwhile */
	FAULT_MAPPED = 'M', /* mapped, but the pager's statistics did not say how */
	FAULT_ERROR = 'E',  /* the pager returned an error (or "not mine") */
};

struct fault_event {
	uint32_t page; /* guest-physical page number */
	uint32_t us;   /* microseconds since the VM was created */
	uint8_t vcpu;  /* vCPU id, or FAULTLOG_HOST */
	uint8_t outcome;
};

struct faultlog {
	uint64_t t0_us;
	uint32_t n, dropped;
	bool printed;
	const struct elf_image *image; /* the guest's segments, printed with the events */
	struct fault_event events[FAULTLOG_EVENTS];
};

void faultlog_init(struct faultlog *log);
/* The VM boots this image: print its segments with the events (guest_boot.c). */
void faultlog_set_image(struct faultlog *log, const struct elf_image *image);
/* Record one fault handler call on gpa and what came of it. Call it with vm->npt_lock held. */
void faultlog_add(struct vm *vm, uint64_t gpa, enum fault_outcome outcome);
/* Print the ring as FAULTMAP lines, once (only for a VM with an image). */
void faultlog_print(struct vm *vm);
/* The same, if a vCPU did not exit with 0: vm_run calls it. */
void faultlog_print_if_failed(struct vm *vm);
