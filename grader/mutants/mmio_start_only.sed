# The printer checks where the buffer starts but not where it ends: a buffer
# that starts in guest RAM and runs past its end is accepted.
# expect: mmio.outside_buffer
s/pr->buf >= ram || pr->len > ram - pr->buf/pr->buf >= ram/
