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

sh "$(dirname "$0")/../tests/apt-install.sh" clang libclang-rt-14-dev
probe || {
	echo "pop3d: $CC cannot build libFuzzer targets" >&2
	exit 1
}
