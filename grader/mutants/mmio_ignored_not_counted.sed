# Accesses of the wrong size are ignored but not counted in printer->ignored.
# expect: mmio.invalid_size
0,/pr->ignored++;/s/pr->ignored++;//
