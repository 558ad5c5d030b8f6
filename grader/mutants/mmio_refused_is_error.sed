# A refused doorbell returns an error, which ends the VM: mmio.h says the guest goes on.
# expect: mmio.outside_buffer
/pr->refused++;/{n;s/return 0;/return -1;/}
