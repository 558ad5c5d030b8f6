#!/bin/bash
# mkhandout.sh [--worktree] OUTDIR
#
# Export the student's tree of Project 3 into OUTDIR (which must not exist, or
# be empty): every file of the git checkout except the reference solution and
# the grader's files that contain pieces of it, its Markdown files in their
# student versions (tools/student-copy.awk). Then check the export:
#
#   1. no excluded path made it into OUTDIR;
#   2. no file in OUTDIR holds a line of the reference solution's function
#      bodies that the student tree has no business holding (the lines are
#      computed here, from solution/project3/*.c, not written down anywhere);
#   3. `make` builds in OUTDIR, and pytest can collect the grader's tests
#      there; neither writes outside build/, which is removed afterwards.
#
# It prints what it left out, the file count and the size.
#
# By default the export is the last commit (git archive HEAD), so it is
# reproducible. --worktree takes the working tree instead: tracked files and
# new files git does not ignore, as they are on disk now.
set -euo pipefail

# What students must not get: paths (or directory prefixes) in the repository.
#   solution/         the reference implementation of project3/*.c
#   grader/mutants/   sed scripts that break solution files one line at a
#                     time: each one quotes the reference line it changes
#   grader/test_grader_mutants.py  runs those mutants: staff only, and it
#                     cannot even be collected without them
#   grader/test_forgery.py  the forgery mutants (grader/mutants/forge_*): likewise
#   grader/test_spec_table.py  the rule -> test -> mutant table (staff-only text of
#                     grader/README.md) against the mutants: likewise
#   grader/policy_fixtures/  a second complete solution (the policy's yardstick)
EXCLUDE=(solution/ grader/mutants/ grader/test_grader_mutants.py grader/test_forgery.py
	grader/test_spec_table.py grader/policy_fixtures/)

# The interpreter with pytest (the Makefile's PYTHON: `make handout` passes it on).
PYTHON=${PYTHON:-/usr/bin/python3}

# Body lines shorter than this (after squeezing blanks) are too common to
# tell anything: "return 0;", "} else {", ...
MIN_LINE=12

die()
{
	echo "mkhandout: $*" >&2
	exit 1
}

usage()
{
	echo "usage: $0 [--worktree] OUTDIR" >&2
	exit 2
}

worktree=0
if [ "${1:-}" = --worktree ]; then
	worktree=1
	shift
fi
[ $# -eq 1 ] || usage
out=$(realpath -m "$1") # before the cd below: OUTDIR is relative to the caller's directory

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
git rev-parse --git-dir >/dev/null 2>&1 || die "$root is not a git checkout"
[ -d solution/project3 ] || die "no solution/project3 here: nothing to check the export against"
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
	die "$out exists and is not empty: give a new directory"
fi
# Inside the repository only where git ignores it (build/handout), so that a
# --worktree export never picks up an earlier export.
case "$out/" in
"$root"/*)
	[ "$out" != "$root" ] && git check-ignore -q "$out" ||
		die "$out is inside the repository and not ignored by git: use build/handout"
	;;
esac
mkdir -p "$out"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

is_excluded()
{
	local p
	for p in "${EXCLUDE[@]}"; do
		case "$1" in
		"$p"*) return 0 ;;
		esac
	done
	return 1
}

# ---- 1. the whole source tree, solution included, in $stage/src ----

mkdir "$stage/src"
if [ $worktree = 1 ]; then
	what="the working tree"
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			[ -f "$f" ] && printf '%s\0' "$f" # skip files deleted but not yet committed
		done | tar -c --null -T - -f - | tar -x -C "$stage/src" -f -
else
	what="HEAD ($(git rev-parse --short HEAD))"
	git archive --format=tar HEAD | tar -x -C "$stage/src" -f -
	if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
		echo "mkhandout: note: exporting HEAD; uncommitted changes are left out (--worktree takes them)"
	fi
fi

# ---- 2. copy everything but the excluded paths to $out ----

(cd "$stage/src" && find . \( -type f -o -type l \) -printf '%P\n' | sort) > "$stage/all"
excluded=0
: > "$stage/kept"
while IFS= read -r f; do
	if is_excluded "$f"; then
		excluded=$((excluded + 1))
	else
		printf '%s\n' "$f" >> "$stage/kept"
	fi
done < "$stage/all"
(cd "$stage/src" && tar -c -T "$stage/kept" -f -) | tar -x -C "$out" -f -
echo "mkhandout: exported $what; left out $excluded files under: ${EXCLUDE[*]}"

# grader/durations.json (the order make check starts its tests in) also times the tests
# of the files left out: their entries go too (the handout's own schedule.py edits it).
if [ -f "$out/grader/durations.json" ]; then
	"$PYTHON" "$out/grader/harness/schedule.py" --leave-out "${EXCLUDE[@]}" ||
		die "could not filter grader/durations.json"
fi

# The Markdown files speak to students: staff-only text out, student-only text in
# (the markers: tools/student-copy.awk). One source, two readers.
(cd "$out" && grep -rlZ --include='*.md' -e '<!-- staff' -e '<!-- student:' . || true) |
	while IFS= read -r -d '' f; do
		awk -f "$stage/src/tools/student-copy.awk" "$out/$f" > "$stage/student.md" ||
			die "${f#./}: see the message above (markers: tools/student-copy.awk)"
		cat "$stage/student.md" > "$out/$f"
		echo "mkhandout: ${f#./}: the student's version"
	done

# ---- 3. checks ----

for p in "${EXCLUDE[@]}"; do
	[ ! -e "$out/$p" ] || die "$out/$p exists: the exclusion failed"
done
left=$(cd "$out" && grep -rl --include='*.md' -e '<!-- staff' -e '<!-- student:' . || true)
[ -z "$left" ] || die "staff/student markers left in: $left"

# The text files of a directory, one per line (binary files are skipped).
text_files()
{
	find "$1" -type f -print0 | xargs -0 -r grep -Il '' 2>/dev/null || true
}

# Print "file:function<TAB>line" for every line of every top-level function
# body in the C files given: a function starts at a line "{" in column 0 right
# after its prototype, and ends at "}" in column 0. Blanks are squeezed;
# comment lines and lines shorter than MIN_LINE are dropped.
function_lines()
{
	awk -v min="$MIN_LINE" '
		function squeeze(s) {
			gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s); return s
		}
		FNR == 1 { body = 0; proto = "" }
		/^\{/ && proto ~ /\(/ {
			body = 1; fn = proto
			sub(/\(.*/, "", fn); sub(/.*[ *]/, "", fn)
			next
		}
		/^\}/ { body = 0 }
		body {
			l = squeeze($0)
			if (length(l) >= min && l !~ /^(\/\*|\*|\/\/)/)
				print FILENAME ":" fn "\t" l
		}
		$0 !~ /^[ \t]/ && $0 != "" { proto = $0 }
	' "$@"
}

# Keep the lines of function_lines output (file SIGS) that occur in none of
# the files named in LIST (one per line), squeezed the same way. A line
# "occurs" when it is part of a line there: a sed script quoting it counts.
#   keep_unseen SIGS LIST            the lines found nowhere ("fn<TAB>line")
#   keep_unseen SIGS LIST found      the lines found, and where ("fn<TAB>line<TAB>file")
keep_unseen()
{
	awk -F'\t' -v mode="${3:-unseen}" '
		function squeeze(s) {
			gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s); return s
		}
		FNR == NR { n++; fn[n] = $1; text[n] = $2; next }
		{ files[++nf] = $0 }
		END {
			for (k = 1; k <= nf; k++) {
				while ((getline raw < files[k]) > 0) {
					l = squeeze(raw)
					for (i = 1; i <= n; i++)
						if (!(i in where) && index(l, text[i]))
							where[i] = files[k]
				}
				close(files[k])
			}
			for (i = 1; i <= n; i++) {
				if (mode == "found" && (i in where))
					print fn[i] "\t" text[i] "\t" where[i]
				if (mode == "unseen" && !(i in where))
					print fn[i] "\t" text[i]
			}
		}
	' "$1" "$2"
}

# A body line that the student tree holds legitimately (a prototype in a stub,
# a common line in provided code) cannot reveal a leak. So the lines to look
# for are those that no file to be exported holds, read on the source side;
# then the copy in $out is searched for them.
(cd "$stage/src" && function_lines solution/project3/*.c) > "$stage/body"
[ -s "$stage/body" ] || die "found no function bodies in solution/project3/*.c"
(cd "$stage/src" && tr '\n' '\0' < "$stage/kept" | xargs -0 -r grep -Il '' 2>/dev/null) \
	> "$stage/baseline" || true
(cd "$stage/src" && keep_unseen "$stage/body" "$stage/baseline") > "$stage/sigs"

# Every function must keep at least one line to itself; if it does not, its
# body is somewhere in the student tree already (or it is too short to check).
cut -f1 "$stage/body" | sort -u > "$stage/fns"
cut -f1 "$stage/sigs" | sort -u > "$stage/fns_checked"
missing=$(comm -23 "$stage/fns" "$stage/fns_checked")
if [ -n "$missing" ]; then
	echo "mkhandout: every body line of these reference functions is also in the student" >&2
	echo "tree, so a leak cannot be told apart (is the reference copied there?):" >&2
	(cd "$stage/src" && keep_unseen "$stage/body" "$stage/baseline" found) |
		awk -F'\t' -v missing="$missing" '
			BEGIN { n = split(missing, m, "\n"); for (i = 1; i <= n; i++) want[m[i]] = 1 }
			($1 in want) && !(($1, $3) in seen) { seen[$1, $3]; at[$1] = at[$1] " " $3 }
			END { for (f in at) print "    " f ": lines found in" at[f] }' >&2
	exit 1
fi

# The check must be able to fail: the reference files themselves must show up.
(cd "$stage/src" && printf '%s\n' solution/project3/*.c) > "$stage/self"
(cd "$stage/src" && keep_unseen "$stage/sigs" "$stage/self") > "$stage/self_missed"
[ ! -s "$stage/self_missed" ] || die "self-check: the scan misses lines of solution/ itself"

text_files "$out" > "$stage/exported"
keep_unseen "$stage/sigs" "$stage/exported" found > "$stage/leaks"
if [ -s "$stage/leaks" ]; then
	echo "mkhandout: reference solution code in the export:" >&2
	awk -F'\t' -v out="$out/" '{ print "    " substr($3, length(out) + 1) ": " $1 }' \
		"$stage/leaks" | sort -u >&2
	exit 1
fi
nsigs=$(wc -l < "$stage/sigs")
nfns=$(wc -l < "$stage/fns")
echo "mkhandout: no reference code: $nsigs lines unique to $nfns solution functions, none found"

# Build it, as a student would, with nothing inherited from a calling make.
find "$out" -path "$out/build" -prune -o -print | sort > "$stage/before"
jobs=$(nproc 2>/dev/null || echo 2)
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$out" -j"$jobs" > "$stage/make.log" 2>&1; then
	tail -n 30 "$stage/make.log" >&2
	die "make fails in $out (log above)"
fi
echo "mkhandout: make builds in the export"

# The student's `make check` must at least find its tests: nothing left behind
# may need what was excluded.
if "$PYTHON" -c 'import pytest' 2>/dev/null; then
	if ! (cd "$out" && PYTHONDONTWRITEBYTECODE=1 "$PYTHON" -m pytest \
		-c grader/pytest.ini -o cache_dir="$stage/pytest-cache" --collect-only -q grader) \
		> "$stage/collect.log" 2>&1; then
		tail -n 20 "$stage/collect.log" >&2
		die "pytest cannot collect the grader's tests in $out (log above)"
	fi
	echo "mkhandout: pytest collects $(grep -c '::' "$stage/collect.log") tests in the export"
else
	echo "mkhandout: note: no pytest for $PYTHON: test collection not checked"
fi

# Both must have left the tree as it was, but for build/, which goes.
find "$out" -path "$out/build" -prune -o -print | sort > "$stage/after"
if ! cmp -s "$stage/before" "$stage/after"; then
	echo "mkhandout: the build or the tests wrote outside build/:" >&2
	comm -13 "$stage/before" "$stage/after" | sed 's/^/    /' >&2
	exit 1
fi
rm -rf "$out/build"

nfiles=$(find "$out" -type f | wc -l)
kib=$(du -sk "$out" | cut -f1)
bytes=$(find "$out" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
echo "mkhandout: $out: $nfiles files, $bytes bytes of content ($kib KiB on disk)"
