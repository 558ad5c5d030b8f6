# A read of DOORBELL returns LEN, not 0.
# expect: mmio.readback
/case 0x10:/,/return doorbell/s/\*value = 0;/*value = pr->len;/
