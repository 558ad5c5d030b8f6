#!/bin/sh
# Install the Debian/Ubuntu packages the course needs (nothing from PyPI).
set -e
PKGS="build-essential binutils clang-format qemu-system-x86 grub-pc-bin grub-common xorriso mtools gdb \
	python3 python3-pytest python3-pytest-xdist python3-pytest-timeout"
if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends $PKGS
