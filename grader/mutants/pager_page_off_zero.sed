# page_off is always 0: a segment that starts mid-page is copied to the start of
# its first page, so .rodata overwrites the code in the page it shares with .text
# and the guest crashes (a #UD in kmain, then a triple fault). issue 15's second bug.
# expect: pager.partial_and_bss pager.boot_keos
# may-fail: pager.lazy pager.stress
# message: pager.boot_keos: triple fault on vcpu0: #UD (vector 6, exception) at kmain+0x
# message: pager.boot_keos: loader check: page 0x1001000: loader for segment 1 has page_off 0x0, expected 0x4a8
# message: pager.partial_and_bss: page 0x1001000 +0x0 is 0x
# message: pager.partial_and_bss: the loader for segment 1 (file_off 0x24a8 page_off 0x0 file_len 0xb58) wrote it
s/ph->p_offset + (lo - start), lo - page, len);/ph->p_offset + (lo - start), 0, len);/
