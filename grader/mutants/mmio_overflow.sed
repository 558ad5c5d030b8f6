# The range check computes BUF + LEN, which wraps around for a BUF near 2^64:
# the buffer at -16 of length 32 "ends" at 16 and is accepted.
# expect: mmio.outside_buffer
s/pr->buf >= ram || pr->len > ram - pr->buf/pr->buf + pr->len > ram/
