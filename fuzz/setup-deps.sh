#!/bin/sh
# Installs what the libFuzzer harnesses need, from Debian's packages, only
# when it is missing: clang, and libFuzzer with the sanitizer runtimes
# (libclang-rt-14-dev on Debian 12).  Used by `make fuzz` and
# `make fuzz-check`.
set -eu

CC=${FUZZ_CC:-clang}
probe() {
	d=$(mktemp -d)
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
	    '{ (void)d; (void)n; return 0; }' >"$d/p.c"
	"$CC" -fsanitize=fuzzer,address,undefined -o "$d/p" "$d/p.c" \
	    >/dev/null 2>&1
	r=$?
	rm -rf "$d"
	return $r
}

probe && exit 0

PKGS="clang libclang-rt-14-dev"
echo "pop3d: installing packages for fuzzing: $PKGS" >&2
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "pop3d: please install as root: apt-get install $PKGS" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
$SUDO apt-get install -y -q $PKGS >/dev/null 2>&1 || {
	$SUDO apt-get update -q >/dev/null
	$SUDO apt-get install -y -q $PKGS >/dev/null
}
probe || {
	echo "pop3d: $CC cannot build libFuzzer targets" >&2
	exit 1
}
