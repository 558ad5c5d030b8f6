# pager_load_phdr goes on when pager_add_loader fails (out of memory) and returns 0:
# the segment's pages without a loader would be handed out as zero pages.
# expect: pager.fault_errors
/int err = pager_add_loader(/,/return err;/{
s/if (err)/(void)err;/
/return err;/d
}
