# On a failed loader or npt_map the handler returns the error but keeps its page.
# expect: pager.fault_errors
/if (err) {/,/return err;/{
/page_free(page);/d
}
