# A read of LEN returns BUF: the registers do not read back what was written.
# expect: mmio.readback
/case 0x08:/,/return 0;/s/\*value = pr->len;/*value = pr->buf;/
