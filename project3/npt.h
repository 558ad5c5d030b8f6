/*
 * Project 3, part 1: the nested page table (NPT).
 *
 * A guest believes it owns physical memory starting at 0. It does not: every
 * guest-physical address (gpa) the guest touches goes through a second page
 * table, owned by the hypervisor, that maps it to a host-physical address (hpa).
 * AMD calls it the nested page table (NPT); Intel's name is the extended page
 * table (EPT). The CPU finds its root in the VMCB's nCR3 field (Intel: EPTP).
 *
 * Spec notes (read these before writing code):
 *
 *  - Entries use the ordinary x86-64 4-level format: P (bit 0), RW (bit 1),
 *    US (bit 2), PS (bit 7), NX (bit 63), and the physical address of the next
 *    table or of the page in bits 12..51. Level 3 is the PML4, level 0 the page
 *    table (PT) whose entries map 4 KiB pages. This NPT maps 4 KiB pages only.
 *  - There is no "read" bit: a present entry is readable. Write and execute are
 *    separate rights (RW set, NX clear). So a permission without NPT_PERM_READ
 *    cannot be expressed and is refused with -NPT_EPERM. Intel's EPT does have
 *    a read bit; that is the main difference from the KAIST KeV original.
 *  - The CPU walks the NPT with *user* rights, so EVERY level needs US set or
 *    the guest faults forever. Upper-level entries (levels 3..1) are always
 *    P|RW|US with NX clear; only the leaf carries the real rights.
 *  - Entries hold PHYSICAL addresses. Convert with V2P()/P2V() from mm.h.
 *  - A 4-level table translates 48 bits: a gpa at or above 2^48 is refused
 *    with -NPT_ERANGE rather than silently wrapped onto a lower address.
 *  - Adding a mapping needs no TLB flush (not-present entries are not cached).
 *    Removing or downgrading one does: the caller sets the VMCB's TLB_CONTROL.
 *  - The NPT is not locked: callers that share one between vCPUs serialize.
 *
 * Functions return 0 on success or a negated enum npt_error.
 */
#pragma once
#include "types.h"

typedef uint64_t npte_t;

#define NPTE_P	       (1UL << 0)  /* present; for the NPT it also means "readable" */
#define NPTE_RW	       (1UL << 1)  /* writable */
#define NPTE_US	       (1UL << 2)  /* user: needed at every level of the NPT */
#define NPTE_PS	       (1UL << 7)  /* page size: a 2 MiB (level 1) or 1 GiB (level 2) page */
#define NPTE_NX	       (1UL << 63) /* no execute */
#define NPTE_ADDR_MASK 0x000FFFFFFFFFF000UL /* bits 12..51: a physical address */

/* What every upper-level entry (levels 3..1) of the NPT holds besides its address. */
#define NPTE_UPPER (NPTE_P | NPTE_RW | NPTE_US)

#define NPT_ENTRIES 512
#define NPT_LEVELS  4
/* Index of addr in the table at level (3 = PML4, 2 = PDPT, 1 = PD, 0 = PT). */
#define NPT_INDEX(level, addr) (((uint64_t)(addr) >> (12 + 9 * (level))) & 0x1FF)
/* Bytes one entry at level covers: 4 KiB, 2 MiB, 1 GiB, 512 GiB. */
#define NPT_LEVEL_SIZE(level) (1UL << (12 + 9 * (level)))
#define NPT_GPA_LIMIT	      (1UL << 48)

/* The rights of one guest-physical page. READ is mandatory. */
enum npt_perm {
	NPT_PERM_READ = 1 << 0,
	NPT_PERM_WRITE = 1 << 1,
	NPT_PERM_EXEC = 1 << 2,
};
#define NPT_PERM_ALL (NPT_PERM_READ | NPT_PERM_WRITE | NPT_PERM_EXEC)

/* Errors, returned negated: -NPT_EEXIST and so on. */
enum npt_error {
	NPT_EALIGN = 1, /* address not page-aligned */
	NPT_ERANGE,	/* gpa at or above NPT_GPA_LIMIT */
	NPT_EPERM,	/* permission without NPT_PERM_READ, or with unknown bits */
	NPT_EEXIST,	/* the gpa is already mapped */
	NPT_ENOENT,	/* nothing is mapped there */
	NPT_ENOMEM,	/* no memory for a table page (or, in the pager, for the page) */
	NPT_EIO,	/* the pager could not read a page's bytes from the guest image */
};

struct npt {
	npte_t *pml4; /* root table, kernel virtual (its physical address is nCR3) */
};

/* ---- Provided (project3/provided/npt_provided.c): not student work. ---- */

/* Make an empty NPT: allocates the root. 0 or -NPT_ENOMEM. */
int npt_init(struct npt *npt);

/* Free every table page and every page still mapped. The NPT is unusable after. */
void npt_destroy(struct npt *npt);

/* The value for the VMCB's nCR3: the physical address of the root table. */
uint64_t npt_root_pa(struct npt *npt);

/*
 * An error code named for messages, with its sign and meaning:
 * npt_strerror(-NPT_EEXIST) is "-NPT_EEXIST (already mapped)", npt_strerror(0) is "0".
 */
const char *npt_strerror(int err);

/* ---- Student work (project3/npt.c). ---- */

/* Is the entry present? Works for entries at every level, NPT or guest. */
bool npte_present(npte_t e);

/*
 * The physical address the entry points to (bits 12..51): the next table for
 * an upper-level entry, the page for a leaf. The flag bits (including NX,
 * bit 63) are not part of the address.
 */
uint64_t npte_addr(npte_t e);

/*
 * The leaf (level 0) entry that maps the page containing gpa, or NULL when that
 * page is not mapped (a table on the way is missing, or the leaf is not present)
 * or gpa >= NPT_GPA_LIMIT. The offset bits of gpa are ignored. Never allocates.
 */
npte_t *npt_walk(struct npt *npt, uint64_t gpa);

/*
 * Map the 4 KiB host page `page` (kernel virtual, from page_alloc) at gpa with
 * rights perm (NPT_PERM_* bits). The missing tables, and only those, are
 * allocated with page_alloc; the entries pointing to them are
 * V2P(table) | NPTE_UPPER. The leaf becomes
 *   V2P(page) | P | US | (RW if WRITE) | (NX unless EXEC).
 * On success the NPT owns page (npt_unmap gives it back, npt_destroy frees it).
 * Errors, checked in this order (the first that applies wins):
 *   -NPT_EPERM  perm lacks NPT_PERM_READ or has other bits
 *   -NPT_EALIGN gpa is not page-aligned
 *   -NPT_ERANGE gpa >= NPT_GPA_LIMIT
 *   -NPT_ENOMEM a table page could not be allocated
 *   -NPT_EEXIST gpa is already mapped (the old mapping is left alone)
 * On any error page still belongs to the caller: it is neither freed nor mapped.
 * Only -NPT_ENOMEM may leave something behind: the tables made before the
 * allocation failed (npt_destroy frees them). The other errors allocate nothing.
 */
int npt_map(struct npt *npt, uint64_t gpa, void *page, unsigned perm);

/*
 * Remove the mapping at gpa and hand its page (kernel virtual) back through
 * *page: the caller owns it again. Table pages are not freed, even when empty.
 * The caller must flush the guest's TLB before the page is reused.
 * Errors, checked in this order (the first that applies wins):
 *   -NPT_EALIGN gpa is not page-aligned
 *   -NPT_ERANGE gpa >= NPT_GPA_LIMIT
 *   -NPT_ENOENT nothing is mapped there
 * On any error *page is left untouched and nothing changes.
 */
int npt_unmap(struct npt *npt, uint64_t gpa, void **page);

/*
 * Translate gpa (any byte, not only page starts) to the host-physical address
 * of the same byte: the page offset is kept.
 * Errors: -NPT_ERANGE (gpa >= NPT_GPA_LIMIT), else -NPT_ENOENT (not mapped).
 * On an error *hpa is left untouched.
 */
int npt_gpa2hpa(struct npt *npt, uint64_t gpa, uint64_t *hpa);

/*
 * Translate a guest-virtual address the way the CPU does for a guest in long
 * mode: walk the GUEST's own 4-level page table, whose root is guest_cr3 (the
 * guest-physical address in bits 12..51; the low flag bits are ignored). Each
 * guest table lives in guest-physical memory, so reach it through the NPT
 * (npt_gpa2hpa, then P2V). A guest entry with PS set maps a 1 GiB page at
 * level 2 or a 2 MiB page at level 1; in such an entry the address bits below
 * the page size are not address (bit 12 is PAT), so mask them off. The final
 * guest-physical address goes through the NPT too; the offset is kept.
 * Rights (RW, US, NX) are not checked: this is a translation, not an access.
 * Errors (on an error *hpa is left untouched):
 *   -NPT_ERANGE a guest-physical address on the way (the root in guest_cr3, a
 *               table an entry points to, or the final page) is at or above
 *               NPT_GPA_LIMIT: guest entries can hold 52-bit addresses
 *   -NPT_ENOENT a guest entry on the way is not present, or a guest-physical
 *               address on the way is below the limit but not mapped in the NPT
 * The walk stops at the first problem and returns its error.
 * kev has no page walk of its own: it reads every guest-virtual address (the
 * instruction behind an MMIO access, a HC_PRINT buffer) through this function,
 * so the mmio tests depend on it too.
 */
int npt_gva2hpa(struct npt *npt, uint64_t guest_cr3, uint64_t gva, uint64_t *hpa);
