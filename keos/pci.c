/*
 * PCI configuration-space access, mechanism #1: write the address of a
 * 32-bit configuration register to port 0xCF8, then read or write it at 0xCFC.
 * Only the boot CPU scans (from blk_init), so no lock is needed here.
 */
#include "pci.h"
#include "x86.h"

#define PCI_CONFIG_ADDRESS 0xCF8
#define PCI_CONFIG_DATA	   0xCFC

static uint32_t config_address(uint8_t bus, uint8_t slot, uint8_t func, uint8_t off)
{
	return (1u << 31) | ((uint32_t)bus << 16) | ((uint32_t)(slot & 0x1f) << 11) |
	       ((uint32_t)(func & 0x7) << 8) | (off & 0xfc);
}

static uint32_t read_config(uint8_t bus, uint8_t slot, uint8_t func, uint8_t off)
{
	outl(PCI_CONFIG_ADDRESS, config_address(bus, slot, func, off));
	return inl(PCI_CONFIG_DATA);
}

uint32_t pci_read32(const struct pci_dev *d, uint8_t off)
{
	return read_config(d->bus, d->slot, d->func, off);
}

uint16_t pci_read16(const struct pci_dev *d, uint8_t off)
{
	return (uint16_t)(pci_read32(d, off) >> ((off & 2) * 8));
}

/*
 * A 16-bit write goes to the matching half of the data port, so the neighbouring
 * register is left alone (the status register next to the command register has
 * write-1-to-clear bits that a 32-bit read-modify-write would clear).
 */
void pci_write16(const struct pci_dev *d, uint8_t off, uint16_t v)
{
	outl(PCI_CONFIG_ADDRESS, config_address(d->bus, d->slot, d->func, off));
	outw(PCI_CONFIG_DATA + (off & 2), v);
}

static void pci_write32(const struct pci_dev *d, uint8_t off, uint32_t v)
{
	outl(PCI_CONFIG_ADDRESS, config_address(d->bus, d->slot, d->func, off));
	outl(PCI_CONFIG_DATA, v);
}

uint16_t pci_io_base(const struct pci_dev *d, uint8_t bar, uint16_t if_unassigned)
{
	uint32_t value = pci_read32(d, bar);
	if (!(value & PCI_BAR_IO))
		return 0;
	if ((value & ~0x3u) == 0) {
		pci_write32(d, bar, if_unassigned);
		value = pci_read32(d, bar);
	}
	return (uint16_t)(value & ~0x3u);
}

/* Does this function exist? An empty slot reads as all ones. */
static bool probe(uint8_t bus, uint8_t slot, uint8_t func, struct pci_dev *out)
{
	uint32_t id = read_config(bus, slot, func, PCI_VENDOR_ID);

	if ((id & 0xffff) == 0xffff)
		return false;
	out->bus = bus;
	out->slot = slot;
	out->func = func;
	out->vendor = id & 0xffff;
	out->device = id >> 16;
	return true;
}

/* Functions 1..7 exist only if function 0's header type has bit 7 set. */
static bool multifunction(const struct pci_dev *f0)
{
	return (read_config(f0->bus, f0->slot, 0, PCI_HEADER_TYPE & 0xfc) >> 16) & 0x80;
}

bool pci_find(uint16_t vendor, uint16_t device, struct pci_dev *out)
{
	struct pci_dev d;

	for (int bus = 0; bus < 256; bus++) {
		for (int slot = 0; slot < 32; slot++) {
			if (!probe(bus, slot, 0, &d))
				continue;
			int nfunc = multifunction(&d) ? 8 : 1;

			for (int func = 0; func < nfunc; func++) {
				if (!probe(bus, slot, func, &d))
					continue;
				if (d.vendor == vendor && d.device == device) {
					*out = d;
					return true;
				}
			}
		}
	}
	return false;
}

void pci_enable(const struct pci_dev *d, uint16_t command_bits)
{
	pci_write16(d, PCI_COMMAND, pci_read16(d, PCI_COMMAND) | command_bits);
}
