#!/bin/sh
# check-arm64.sh [TREE]: prove that the course builds, boots and grades on an arm64 Linux.
#
# It runs an arm64 Debian 12 userland in a chroot, through qemu-user-static (binfmt_misc)
# on any other Linux host, natively on an arm64 one, and inside it:
#
#   1. copies TREE (a clean copy: `git archive`, never build/),
#   2. installs the course's packages with tools/install-deps.sh (arm64: clang/lld/llvm, no GRUB),
#   3. builds the reference with the portable toolchain (make picks it and says which),
#   4. boots it directly (`make run SOLUTION=1 TEST=npt.simple`),
#   5. grades the reference on a few rubric tests (make grade's command, with --only $TESTS),
#   6. runs the kernel test keos.spinlock_contention through the harness (make run's command),
#   7. reports the stress test's concurrency and QEMU's stderr warnings ("Guest expects
#      a stronger memory ordering than the host provides": not a failure).
#
# (Functions that run as a step run where `set -e` does not reach: they chain with &&.)
# Every step is timestamped; a table of the steps' durations ends the output.
#
# TREE: a git revision of this repository (default HEAD) or a directory (its git HEAD if
# it is a checkout, else its files). Uncommitted changes are not copied from a checkout.
#
# Environment:
#   ARM64_ROOT   the arm64 root (default /var/tmp/keos-arm64-root); reused if it exists,
#                else made with debootstrap (about 20 minutes under emulation)
#   TESTS        rubric tests to grade (default: pager.stress,npt.simple,mmio.print,pager.boot_keos)
#   KTESTS       kernel tests to run through the harness (default: keos.spinlock_contention)
#   KEOS_TIMEOUT_SCALE   multiplies the tests' timeouts (default 6: two layers of emulation)
#   MAKEARGS     extra make arguments (e.g. TOOLCHAIN=llvm)
#
# Needs: Linux, root (debootstrap, chroot, mount), and on a non-arm64 host binfmt_misc
# with qemu-aarch64 registered (Debian: apt-get install qemu-user-static binfmt-support).
#
# What it proves: the arm64 packages, the build with the portable toolchain, and the arm64
# build of QEMU running the course. On x86 hardware qemu-user keeps x86's strong memory
# order, so it does NOT prove the behaviour of a weakly ordered CPU (Apple Silicon, ARM
# servers): only real ARM hardware can.
set -eu

ROOT=${ARM64_ROOT:-/var/tmp/keos-arm64-root}
TESTS=${TESTS:-pager.stress,npt.simple,mmio.print,pager.boot_keos}
KTESTS=${KTESTS:-keos.spinlock_contention}
SCALE=${KEOS_TIMEOUT_SCALE:-6}
MAKEARGS=${MAKEARGS:-}
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
# Where the tree goes inside the root.
INSIDE=/root/keos
HERE=$(cd "$(dirname "$0")/.." && pwd)

T0=$(date +%s)
STEPS=""           # "name seconds status" lines, for the table at the end
MOUNTED=""         # what we mounted (unmounted at exit, in reverse order)

say()
{
	printf '[%s +%4ss] %s\n' "$(date -u +%H:%M:%S)" "$(($(date +%s) - T0))" "$*"
}

die()
{
	say "check-arm64: $*" >&2
	exit 1
}

# step NAME COMMAND...: run one step, timed; a failed step ends the run.
step()
{
	name=$1
	shift
	say "== $name"
	s=$(date +%s)
	if "$@"; then st=ok; else st="FAILED ($?)"; fi
	d=$(($(date +%s) - s))
	STEPS="$STEPS$name $d $st
"
	say "== $name: $st in ${d}s"
	[ "$st" = ok ] || exit 1
}

summary()
{
	[ -n "$STEPS" ] || return 0
	echo
	echo "check-arm64 summary ($(date -u '+%Y-%m-%d %H:%M') UTC, root $ROOT, tree $WHAT):"
	printf '%s' "$STEPS" | while read -r n d st; do
		printf '  %-22s %6ss  %s\n' "$n" "$d" "$st"
	done
	echo "  total                  $(($(date +%s) - T0))s"
}

unmount_all()
{
	for m in $MOUNTED; do
		umount "$m" 2>/dev/null || umount -l "$m" || true
	done
}

on_exit()
{
	st=$?
	unmount_all
	summary
	exit $st
}

# ---- what this machine can do ----

check_host()
{
	[ "$(uname -s)" = Linux ] ||
		die "needs Linux (chroot + binfmt_misc); on macOS, run it in a Linux VM, or just build natively"
	[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount): run it with sudo"
	case "$(uname -m)" in
	aarch64 | arm64)
		say "arm64 host: the root runs natively, no emulation"
		return 0
		;;
	esac
	bm=/proc/sys/fs/binfmt_misc
	[ -e $bm/status ] || die "binfmt_misc is not mounted, so this $(uname -m) machine cannot run arm64
  programs. As root: mount -t binfmt_misc binfmt_misc $bm
  (in a container this must be done on the host; some containers cannot at all)"
	[ "$(cat $bm/status)" = enabled ] || die "binfmt_misc is disabled: echo 1 > $bm/status"
	entry=$bm/qemu-aarch64
	[ -e $entry ] || die "no qemu-aarch64 in binfmt_misc: apt-get install qemu-user-static binfmt-support
  (then: update-binfmts --enable qemu-aarch64)"
	[ "$(head -n 1 $entry)" = enabled ] || die "qemu-aarch64 is registered but disabled:
  update-binfmts --enable qemu-aarch64"
	interp=$(sed -n 's/^interpreter //p' $entry)
	flags=$(sed -n 's/^flags: //p' $entry)
	case "$flags" in
	*F*) say "binfmt_misc: qemu-aarch64 enabled ($interp, flags $flags: works inside a chroot)" ;;
	*)
		# Without F the kernel opens the interpreter inside the chroot: put it there.
		say "binfmt_misc: qemu-aarch64 without the F flag: copying $interp into the root"
		NEED_INTERP=$interp
		;;
	esac
}

# ---- the root ----

make_root()
{
	if [ -x "$ROOT/usr/bin/apt-get" ]; then
		say "reusing the arm64 root $ROOT"
		return 0
	fi
	command -v debootstrap >/dev/null ||
		die "no root at $ROOT and no debootstrap: apt-get install debootstrap (or set ARM64_ROOT)"
	say "debootstrap --arch=arm64 --variant=minbase $SUITE $ROOT (slow under emulation)"
	debootstrap --arch=arm64 --variant=minbase "$SUITE" "$ROOT" "$MIRROR"
}

mount_one()
{
	# $1 type or "bind", $2 source, $3 target under the root
	target=$ROOT$3
	mkdir -p "$target"
	if mountpoint -q "$target"; then
		return 0        # someone else's mount: use it, leave it
	fi
	if [ "$1" = bind ]; then mount --bind "$2" "$target"; else mount -t "$1" "$2" "$target"; fi
	MOUNTED="$target $MOUNTED"
}

enter_root()
{
	if [ -n "${NEED_INTERP:-}" ]; then
		mkdir -p "$ROOT$(dirname "$NEED_INTERP")"
		cp "$NEED_INTERP" "$ROOT$NEED_INTERP"
	fi
	mount_one proc proc /proc
	mount_one bind /dev /dev
	mount_one devpts devpts /dev/pts
	mount_one sysfs sysfs /sys
	mount_one tmpfs tmpfs /dev/shm
	cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
	arch=$(chroot "$ROOT" uname -m) || die "cannot run a program of the root $ROOT"
	[ "$arch" = aarch64 ] || die "the root $ROOT runs as $arch, not aarch64"
	say "the root runs: $(chroot "$ROOT" sed -n 's/^PRETTY_NAME=//p' /etc/os-release) on $arch"
}

# in_root COMMAND: a shell command in the tree, inside the root.
in_root()
{
	chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 KEOS_TIMEOUT_SCALE="$SCALE" sh -c "cd $INSIDE && $1"
}

# ---- the tree ----

copy_tree()
{
	rm -rf "$ROOT$INSIDE" && mkdir -p "$ROOT$INSIDE" || return 1
	if [ -n "$SRC" ] && ! git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$SRC" && tar -cf - --exclude=./build .) | tar -xf - -C "$ROOT$INSIDE" || return 1
	else
		git -C "$GITDIR" archive "$REV" | tar -xf - -C "$ROOT$INSIDE" || return 1
	fi
	say "copied $WHAT: $(find "$ROOT$INSIDE" -type f | wc -l) files"
}

# ---- the steps inside ----

install_deps()
{
	in_root "sh tools/install-deps.sh" &&
		in_root "clang --version | head -n 1; qemu-system-x86_64 --version | head -n 1; python3 -m pytest --version"
}

build()
{
	in_root "make -j2 SOLUTION=1 $MAKEARGS"
}

boot_direct()
{
	in_root "make SOLUTION=1 $MAKEARGS run TEST=npt.simple"
}

# harness_cmd TARGET: the command a make target runs (`make -n`), so that these are the
# commands students run; the steps below add --only, --timeout.
harness_cmd()
{
	in_root "make -s -n SOLUTION=1 $MAKEARGS $1" | grep -e "$2" | tail -n 1
}

grade_some()
{
	cmd=$(harness_cmd grade 'grade\.py')
	[ -n "$cmd" ] || die "make -n grade printed no grade.py command"
	in_root "$cmd --only '$TESTS' -j 1"
}

# Kernel tests (not in the rubric) through the harness, as make run starts it.
kernel_tests()
{
	for t in $(echo "$KTESTS" | tr , ' '); do
		cmd=$(harness_cmd "run TEST=$t" '-m harness')
		[ -n "$cmd" ] || die "make -n run printed no harness command"
		in_root "$cmd --timeout $((30 * SCALE))" || return 1
	done
}

# What the logs say beyond the verdicts: the stress test's concurrency, QEMU's stderr.
report_logs()
{
	logs=$ROOT$INSIDE/build/logs
	grep -h '^METRIC pager.stress' "$logs"/grade/pager.stress.log 2>/dev/null || true
	errs=$(find "$logs" -name '*.stderr')
	n=$(for f in $errs; do grep -l "stronger memory ordering" "$f"; done | wc -l)
	say "QEMU stderr files: $(echo "$errs" | grep -c .), $n of them with QEMU's" \
		"\"Guest expects a stronger memory ordering\" warning (not a failure: the verdicts stand)"
	for f in $errs; do cat "$f"; done | sort | uniq -c
}

# ---- main ----

case "${1:-}" in
-h | --help)
	sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
esac
ARG=${1:-HEAD}
GITDIR=$HERE
REV=HEAD
SRC=
if [ -d "$ARG" ]; then
	SRC=$(cd "$ARG" && pwd)
	GITDIR=$SRC
	WHAT=$SRC
	git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1 &&
		WHAT="$SRC at $(git -C "$SRC" rev-parse --short HEAD)"
else
	REV=$ARG
	git -C "$HERE" rev-parse --verify -q "$REV^{commit}" >/dev/null ||
		die "$ARG is neither a directory nor a git revision of $HERE"
	WHAT="$REV ($(git -C "$HERE" rev-parse --short "$REV"))"
fi

trap on_exit EXIT
trap 'exit 130' INT TERM
say "check-arm64: tree $WHAT, root $ROOT, tests $TESTS + $KTESTS, timeout scale $SCALE"
NEED_INTERP=
check_host
step root make_root
enter_root
step copy copy_tree
step install-deps install_deps
step build build
step boot-direct boot_direct
step grade grade_some
step kernel-tests kernel_tests
report_logs
say "check-arm64: all steps passed"
