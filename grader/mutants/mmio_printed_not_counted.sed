# A doorbell prints but is not counted in printer->printed.
# expect: mmio.print mmio.invalid_size
s/\tpr->printed++;//
