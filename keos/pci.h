/*
 * PCI configuration space through I/O ports 0xCF8/0xCFC ("configuration
 * mechanism #1"): enough to find a device and turn on its I/O and DMA.
 */
#pragma once
#include "types.h"

struct pci_dev {
	uint8_t bus, slot, func;
	uint16_t vendor, device;
};

/* Standard configuration-header offsets. */
#define PCI_VENDOR_ID	0x00
#define PCI_DEVICE_ID	0x02
#define PCI_COMMAND	0x04
#define PCI_HEADER_TYPE 0x0E
#define PCI_BAR0	0x10

#define PCI_COMMAND_IO	   (1 << 0) /* respond to I/O-space BARs */
#define PCI_COMMAND_MEMORY (1 << 1) /* respond to memory-space BARs */
#define PCI_COMMAND_MASTER (1 << 2) /* may do DMA (bus mastering) */

#define PCI_BAR_IO 0x1 /* bit 0 of a BAR: 1 = I/O ports, 0 = memory */

uint32_t pci_read32(const struct pci_dev *d, uint8_t off);
uint16_t pci_read16(const struct pci_dev *d, uint8_t off);
void pci_write16(const struct pci_dev *d, uint8_t off, uint16_t v);
/*
 * The first I/O port of an I/O-space BAR (offset `bar`), 0 if it is a memory BAR. A
 * firmware that leaves PCI unconfigured (qboot) gives the BAR no ports: it then gets
 * `if_unassigned` (the ports SeaBIOS would have chosen).
 */
uint16_t pci_io_base(const struct pci_dev *d, uint8_t bar, uint16_t if_unassigned);

/* Scan every bus for the first function with this vendor/device id; false if none. */
bool pci_find(uint16_t vendor, uint16_t device, struct pci_dev *out);
/* Set bits (PCI_COMMAND_*) in the device's command register. */
void pci_enable(const struct pci_dev *d, uint16_t command_bits);
