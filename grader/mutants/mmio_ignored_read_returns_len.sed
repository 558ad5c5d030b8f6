# An ignored read returns LEN instead of 0.
# expect: mmio.invalid_size
0,/\*value = 0;/s/\*value = 0;/*value = pr->len;/
