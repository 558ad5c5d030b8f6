/*
 * guest_boot.c: the VM that boots a guest kernel from its ELF file.
 *
 * Each vCPU starts the way GRUB starts a multiboot2 kernel: 32-bit protected
 * mode, paging off, EAX = the multiboot2 magic, EBX = the guest-physical
 * address of the boot information, which holds the memory map the guest
 * reads at boot (RAM at 0-640 KiB and 1 MiB-256 MiB).
 */
#include "guest_boot.h"
#include "mm.h"
#include "multiboot.h"
#include "printk.h"

/* The boot information: keos/multiboot.h's tags, one after the other. */
struct mb2_info {
	uint32_t total_size, reserved;
	struct mb2_mmap_tag mmap_tag;
	struct mb2_mmap_entry mmap[2];
	struct mb2_tag end;
} __packed;

static int write_boot_info(struct vm *vm)
{
	struct mb2_info info = {
	    .total_size = sizeof(info),
	    .mmap_tag = {.type = MB2_TAG_MMAP,
			 .size = sizeof(info.mmap_tag) + sizeof(info.mmap),
			 .entry_size = sizeof(struct mb2_mmap_entry)},
	    .mmap = {{0, 640 << 10, MB_MEMORY_AVAILABLE, 0},
		     {1 << 20, GUEST_MEM - (1 << 20), MB_MEMORY_AVAILABLE, 0}},
	    .end = {.type = MB2_TAG_END, .size = sizeof(info.end)},
	};
	return vm_write_gpa(vm, GUEST_MBI_GPA, &info, sizeof(info));
}

/* Crash reports (kev/report.c vcpu_report_crash) in the guest's own terms. */
static int guest_symbolize(void *arg, uint64_t addr, char *buf, size_t len)
{
	struct guest *g = arg;
	return elf_symbolize(&g->pager.elf, addr, buf, len);
}

/*
 * Where the code at rip came from. With paging on, rip is virtual: the ELF's
 * segments say where it was loaded (the guest KeOS maps itself as linked).
 */
static void guest_describe_code(void *arg, uint64_t rip, bool paging_off)
{
	struct guest *g = arg;
	uint64_t gpa = paging_off ? rip : 0;
	for (int i = 0; !paging_off && i < g->pager.elf.nphdrs; i++) {
		const struct elf_phdr *ph = &g->pager.elf.phdrs[i];
		if (rip >= ph->p_vaddr && rip < ph->p_vaddr + ph->p_memsz)
			gpa = ph->p_paddr + (rip - ph->p_vaddr);
	}
	if (!paging_off && !gpa) {
		printk("kev:   rip 0x%lx is in no segment of the image\n", rip);
		return;
	}
	printk("kev:   rip is at guest-physical 0x%lx, in page 0x%lx\n", gpa,
	       ALIGN_DOWN(gpa, PAGE_SIZE));
	pager_print_loaders(&g->pager, ALIGN_DOWN(gpa, PAGE_SIZE), "kev:   ");
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		guest_destroy(g);                                                                  \
		return -1;                                                                         \
	} while (0)

int guest_create(struct guest *g, const char *name, int nvcpus, char *err, size_t errlen)
{
	memset(g, 0, sizeof(*g));
	pager_init(&g->pager);
	struct file *f = fs_open(name);
	if (!f)
		FAIL("no file \"%s\" on the disk", name);
	/* From here on the pager owns f: guest_destroy closes it. */
	if (elf_read_headers(f, GUEST_MEM, &g->pager.elf, err, errlen) != 0) {
		guest_destroy(g);
		return -1;
	}
	g->vm = vm_create(name, nvcpus, GUEST_MEM);
	if (!g->vm)
		FAIL("cannot create a VM with %d vCPUs (no SVM, or out of memory)", nvcpus);
	vm_set_fault_handler(g->vm, pager_fault, &g->pager, "pager_handle_fault");
	g->vm->symbolize = guest_symbolize;
	g->vm->describe_code = guest_describe_code;
	g->vm->report_arg = g;
	faultlog_set_image(&g->vm->faultlog, &g->pager.elf);
	if (vm_add_mmio(g->vm, MMIO_PRINTER_BASE, MMIO_PRINTER_SIZE, mmio_printer_access,
			&g->printer) != 0)
		FAIL("cannot add the MMIO printer");

	if (pager_entry_point(&g->pager.elf, &g->entry_pa) != 0)
		FAIL("the entry point 0x%lx is in no loadable segment", g->pager.elf.entry);
	for (int i = 0; i < g->pager.elf.nphdrs; i++) {
		int e = pager_load_phdr(&g->pager, g->vm, &g->pager.elf.phdrs[i]);
		if (e)
			FAIL("pager_load_phdr(segment %d) failed: %d", i, e);
	}
	if (write_boot_info(g->vm) != 0)
		FAIL("cannot write the boot information at 0x%lx%s%s", GUEST_MBI_GPA,
		     g->vm->error[0] ? ": " : "", g->vm->error);
	for (int i = 0; i < nvcpus; i++) {
		struct vcpu *v = &g->vm->vcpus[i];
		vcpu_init_protected32(v, g->entry_pa);
		v->regs[VCPU_RAX] = MB2_BOOT_MAGIC;
		v->regs[VCPU_RBX] = GUEST_MBI_GPA;
	}
	return 0;
}

void guest_destroy(struct guest *g)
{
	vm_destroy(g->vm);
	g->vm = NULL;
	pager_destroy(&g->pager);
}
