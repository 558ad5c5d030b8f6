# The doorbell reads the buffer's first byte before it checks the buffer: a refused
# doorbell must read no memory (mmio.h).
# expect: mmio.outside_buffer
s/^\tuint64_t ram = vcpu->vm->mem_size;$/\tchar first;\n\t(void)vm_read_gpa(vcpu->vm, pr->buf, \&first, 1);\n\tuint64_t ram = vcpu->vm->mem_size;/
