#!/bin/sh
# install-deps.sh: install what the course needs, from this system's own packages.
#
#   tools/install-deps.sh                   install (asks sudo for the system's package manager)
#   tools/install-deps.sh --dry-run         print the commands, run nothing
#   tools/install-deps.sh --dry-run dnf aarch64   ... as they would be on another host
#                                           (apt, dnf, pacman or brew; then an architecture)
#
# Knows apt (Debian, Ubuntu, WSL2), dnf (Fedora), pacman (Arch) and Homebrew (macOS).
# Each host gets only what it needs. Kernel code is built by the host's gcc on x86-64,
# or by clang + ld.lld + llvm-objcopy (a cross compiler on every host). The GRUB ISO
# needs GRUB's BIOS modules, which exist for x86 hosts only; every host boots the
# kernel directly (qemu -kernel). Nothing comes from PyPI, except on macOS: Homebrew
# packages no Python libraries, so a virtual environment gets pytest from pip there.
set -e

# Everything, by its job; each host's list below names its own package for each.
#   host C compiler + make   build the host tools (mkrootfs, ...) and run the host tests
#   x86-64 kernel toolchain  gcc + binutils on x86-64, else clang + lld + llvm
#   clang-format             make format, and make check's style test
#   qemu-system-x86_64       runs everything (TCG, never KVM)
#   GRUB BIOS + xorriso + mtools   make iso (x86 hosts only)
#   gdb that reads x86-64    make gdb
#   python3 + pytest, pytest-xdist, pytest-timeout   the grader
NEEDS="
  - a C compiler and make for this host
  - clang, ld.lld and llvm-objcopy, or an x86_64-elf GNU cross toolchain
  - qemu-system-x86_64 (QEMU 7 or newer)
  - python3 with pytest, pytest-xdist and pytest-timeout
  - optional: clang-format (make check); a gdb that reads x86-64 code (make gdb);
    on x86 hosts grub-mkrescue with GRUB's i386-pc modules, xorriso, mtools (make iso)"

APT_COMMON="clang-format qemu-system-x86 python3 python3-pytest python3-pytest-xdist \
python3-pytest-timeout"
# x86: the native gcc, and the GRUB ISO. make check also builds with TOOLCHAIN=llvm.
APT_X86="build-essential binutils clang lld llvm grub-pc-bin grub-common xorriso mtools gdb"
# Other architectures (arm64...): no grub-pc-bin there; gdb-multiarch reads x86-64.
APT_OTHER="build-essential clang lld llvm gdb-multiarch"

DNF_COMMON="make gcc clang lld llvm clang-tools-extra qemu-system-x86 gdb python3 \
python3-pytest python3-pytest-xdist python3-pytest-timeout"
# Fedora names it grub2-mkrescue; grub2-pc-modules holds the i386-pc modules.
DNF_X86="grub2-tools-extra grub2-pc-modules xorriso mtools"

# Arch Linux is x86_64 only; its clang package has clang-format.
PACMAN="make gcc clang lld llvm qemu-system-x86 grub libisoburn mtools gdb python \
python-pytest python-pytest-xdist python-pytest-timeout"

# macOS: make is GNU make 4 as `gmake` (macOS ships 3.81); llvm is keg-only (not on
# PATH) and lld is its own formula; Homebrew's gdb reads x86-64 remotely (no codesign
# needed for a remote target). The host compiler is Apple's clang (Xcode tools).
BREW="make llvm lld qemu gdb python"
PIP="pytest pytest-xdist pytest-timeout"
VENV=.venv

say()
{
	printf '%s\n' "$*"
}

die()
{
	say "install-deps: $*" >&2
	exit 1
}

run()
{
	say "+ $*"
	[ -n "$DRY_RUN" ] || "$@"
}

# The system's package manager runs as root: through sudo unless we are root.
as_root()
{
	if [ "$(id -u)" -eq 0 ] || [ -n "$DRY_RUN" ]; then
		run "$@"
	elif command -v sudo >/dev/null 2>&1; then
		run sudo "$@"
	else
		die "not root and no sudo: run as root: $*"
	fi
}

is_x86()
{
	case "$1" in
	amd64 | i386 | x86_64 | i686) return 0 ;;
	*) return 1 ;;
	esac
}

install_apt()
{
	if is_x86 "$1"; then pkgs="$APT_COMMON $APT_X86"; else pkgs="$APT_COMMON $APT_OTHER"; fi
	export DEBIAN_FRONTEND=noninteractive
	as_root apt-get update -q
	# shellcheck disable=SC2086 # a list of package names
	as_root apt-get install -y -q --no-install-recommends $pkgs
}

install_dnf()
{
	if is_x86 "$1"; then pkgs="$DNF_COMMON $DNF_X86"; else pkgs="$DNF_COMMON"; fi
	# shellcheck disable=SC2086
	as_root dnf install -y $pkgs
}

install_pacman()
{
	is_x86 "$1" || die "no package list for pacman on $1 (Arch Linux is x86_64 only).
Install these yourself:$NEEDS"
	# shellcheck disable=SC2086
	as_root pacman -S --needed --noconfirm $PACMAN
}

install_brew()
{
	[ "$(id -u)" -ne 0 ] || [ -n "$DRY_RUN" ] || die "Homebrew refuses to run as root: run this as yourself"
	command -v brew >/dev/null 2>&1 || [ -n "$DRY_RUN" ] ||
		die "no Homebrew: install it first (https://brew.sh), then run this again"
	# shellcheck disable=SC2086
	run brew install $BREW
	# Homebrew's Python refuses pip installs into itself (PEP 668): a venv it is.
	prefix=$( (brew --prefix) 2>/dev/null || echo /opt/homebrew)
	run "$prefix/bin/python3" -m venv "$VENV"
	# shellcheck disable=SC2086
	run "$VENV/bin/python3" -m pip install -q $PIP
	say ""
	say "Done. On macOS, run the build with GNU make 4 and the venv's Python, e.g."
	say "    PATH=\"$prefix/opt/llvm/bin:\$PATH\" gmake PYTHON=$VENV/bin/python3 run"
}

# Which package manager, and which architecture (as that manager names it).
detect()
{
	case "$(uname -s)" in
	Darwin)
		pm=brew
		arch=$(uname -m)
		;;
	Linux)
		arch=$(uname -m)
		if command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1; then
			pm=apt
			arch=$(dpkg --print-architecture)
		elif command -v dnf >/dev/null 2>&1; then
			pm=dnf
		elif command -v pacman >/dev/null 2>&1; then
			pm=pacman
		else
			pm=unknown
		fi
		;;
	*)
		pm=unknown
		arch=$(uname -m)
		;;
	esac
}

DRY_RUN=
case "$1" in
--dry-run)
	DRY_RUN=1
	shift
	;;
-h | --help)
	sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
-*) die "unknown option $1 (try --help)" ;;
esac
detect
if [ $# -gt 0 ]; then
	[ -n "$DRY_RUN" ] || die "a host can be named with --dry-run only"
	pm=$1
	arch=${2:-$arch}
fi

# Homebrew's venv is made in the repository (make's PYTHON points at it).
cd "$(dirname "$0")/.."
case "$pm" in
apt) install_apt "$arch" ;;
dnf) install_dnf "$arch" ;;
pacman) install_pacman "$arch" ;;
brew) install_brew ;;
*)
	die "no package list for this system ($(uname -s) $arch: apt, dnf, pacman and
Homebrew are known). Install these yourself:$NEEDS"
	;;
esac
