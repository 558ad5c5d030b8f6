# The doorbell reads BUF through the guest's page table, as if it were guest-virtual:
# mmio.h says BUF is guest-physical (a device sees physical memory, like DMA).
# expect: mmio.print
s/vm_read_gpa(vcpu->vm, pr->buf + done, text, n)/vcpu_read_gva(vcpu, pr->buf + done, text, n)/
