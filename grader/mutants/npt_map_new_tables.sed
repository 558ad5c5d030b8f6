# npt_map makes new tables even where they exist: earlier mappings under them vanish,
# and the old tables leak.
# expect: npt.complicate npt.destroy_frees_all
s/if (!npte_present(\*e)) {/if (create || !npte_present(*e)) {/
