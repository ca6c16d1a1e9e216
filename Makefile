# pop3d - a small POP3 server for mbox spools.
#
#   make            build pop3d and pop3passwd (optimised, no sanitizers)
#   make check      build with ASan+UBSan and run every test
#   make demo       run the server on a demo maildrop (installs build deps)
#   make fuzz       libFuzzer harnesses, FUZZ_SECONDS=60 each (fuzz/README.md)
#   make lint       cppcheck and clang-tidy, configured in the repository
#   make bench      benchmark against popa3d and Dovecot, as root; not part of
#                   make check (bench/run.sh: BENCH_SIZES=small,medium,large
#                   BENCH_RUNS=5 BENCH_LARGE_MB=1024 ...; bench/RESULTS.md),
#                   then sessions per second through HAProxy (bench/haproxy.sh)
#   make bench-haproxy  only the HAProxy part, as root (BENCH_HAPROXY_CLIENTS=4
#                   BENCH_HAPROXY_SECONDS=10 BENCH_RUNS=5); rewrites its own
#                   section of bench/RESULTS.md
#   make bench-maildir  only the Maildir part (bench/maildir.sh, also run by
#                   make bench): pop3d against Dovecot and Courier on
#                   Maildirs, as root (BENCH_MAILDIR_SIZES=10000,100000
#                   BENCH_MAILDIR_MEAN=8192 BENCH_MAILDIR_LOOPFS=auto
#                   BENCH_RUNS=5); rewrites its own
#                   section of bench/RESULTS.md
#   make install    PREFIX=/usr/local DESTDIR= SBINDIR= MANDIR= SYSCONFDIR=
#                   SYSTEMDUNITDIR=  (make uninstall removes the same); also
#                   SYSCONFDIR/fail2ban/{filter.d,jail.d}/pop3d.conf and
#                   the settings, SYSCONFDIR/pop3d/pop3d.conf (etc/pop3d.conf),
#                   never over an existing one; make uninstall removes it
#                   only while it is unchanged
#   make deb        the Debian package, in build/deb/ (installs missing
#                   build dependencies; debian/README.source)
#   make deb-check  builds the package from HEAD and tests it installed,
#                   as root (tests/deb.sh; slow, not part of make check)
#   make clean

CC      ?= cc
PKG_CONFIG ?= pkg-config
PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
DESTDIR ?=
# The pre-login process's chroot: params.h's DEFAULT_PRIVSEP_DIR, which
# pop3d is compiled with (tests/e2e/install.sh checks they agree), so not
# a variable to change here.  make install creates it, empty, root's.
PRIVSEP_DIR = /var/lib/pop3d/empty

WARN    = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
          -Wmissing-prototypes -Wpointer-arith -Wvla
CSTD    = -std=c11 -D_GNU_SOURCE
OPT     ?= -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong
# OpenSSL's headers only: tls.c loads libssl.so.3 at run time, when TLS
# is configured (see there why).
DEPS_CFLAGS := $(shell $(PKG_CONFIG) --cflags libcrypt libmd libxxhash libssl libgsasl 2>/dev/null)
DEPS_LIBS   := $(shell $(PKG_CONFIG) --libs libcrypt libmd libxxhash pam libgsasl 2>/dev/null)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

# CPPFLAGS, CFLAGS and LDFLAGS come last, so a packager's (dpkg-buildflags:
# hardening, -ffile-prefix-map) apply; debian/rules sets OPT= to use only
# theirs.
CPPFLAGS ?=
CFLAGS  ?=
LDFLAGS ?=
ALL_CFLAGS = $(CSTD) $(WARN) $(OPT) $(DEPS_CFLAGS) $(CPPFLAGS) $(CFLAGS)

# The server's modules, shared by the binary and the unit tests.
LIB_SRCS = options.c config.c proxy.c session.c sasl.c privsep.c netio.c tls.c auth.c passdb.c passdb_file.c passdb_pam.c passdb_checkpassword.c checkpassword_reply.c trust.c checkconfig.c maildrop.c maildrop_mbox.c maildrop_maildir.c maildir_cache.c mailbox.c msgstream.c idxcache.c fullio.c spool.c lock.c journal.c log.c logout.c utf8.c
HDRS     = proto.h params.h scanloop.h utf8.h

SAN     = -fsanitize=address,undefined -fno-omit-frame-pointer \
          -fno-sanitize-recover=all
ASAN_DIR = build/asan

.PHONY: all check unit e2e demo install uninstall clean deps

all: pop3d pop3passwd

pop3d: pop3d.c $(LIB_SRCS) $(HDRS)
	$(CC) $(ALL_CFLAGS) -o $@ pop3d.c $(LIB_SRCS) $(LDFLAGS) $(DEPS_LIBS)

pop3passwd: pop3passwd.c utf8.c params.h utf8.h
	$(CC) $(ALL_CFLAGS) -o $@ pop3passwd.c utf8.c $(LDFLAGS) $(DEPS_LIBS)

# --- tests: everything under ASan and UBSan ---------------------------

$(ASAN_DIR)/pop3d: pop3d.c $(LIB_SRCS) $(HDRS)
	@mkdir -p $(ASAN_DIR)
	$(CC) $(CSTD) $(WARN) -O1 -g $(SAN) $(DEPS_CFLAGS) -o $@ pop3d.c $(LIB_SRCS) $(DEPS_LIBS)

$(ASAN_DIR)/pop3passwd: pop3passwd.c utf8.c params.h utf8.h
	@mkdir -p $(ASAN_DIR)
	$(CC) $(CSTD) $(WARN) -O1 -g $(SAN) $(DEPS_CFLAGS) -o $@ pop3passwd.c utf8.c $(DEPS_LIBS)

UNIT_SRCS = $(wildcard tests/check_*.c)

$(ASAN_DIR)/unit: $(UNIT_SRCS) tests/unit.h $(LIB_SRCS) $(HDRS)
	@mkdir -p $(ASAN_DIR)
	$(CC) $(CSTD) $(WARN) -Wno-missing-prototypes -O1 -g $(SAN) -I. \
	    $(DEPS_CFLAGS) $(CHECK_CFLAGS) -o $@ $(UNIT_SRCS) $(LIB_SRCS) \
	    $(DEPS_LIBS) $(CHECK_LIBS)

deps:
	@sh tests/setup-deps.sh

check: deps
	@$(MAKE) --no-print-directory $(ASAN_DIR)/pop3d $(ASAN_DIR)/pop3passwd $(ASAN_DIR)/unit
	@$(MAKE) --no-print-directory unit e2e fuzz-check

unit:
	CK_DEFAULT_TIMEOUT=60 ./$(ASAN_DIR)/unit

e2e:
	@bash tests/e2e.sh $(ASAN_DIR)

# --- static analysis ----------------------------------------------------
# cppcheck and clang-tidy over the server and pop3passwd sources (with the
# headers they include), configured by the checked-in .cppcheck-suppressions
# and .clang-tidy; any finding fails.  tests/ and fuzz/ are not linted.

CPPCHECK   ?= cppcheck
CLANG_TIDY ?= clang-tidy
LINT_SRCS   = pop3d.c pop3passwd.c $(LIB_SRCS)

.PHONY: lint
lint:
	$(CPPCHECK) --enable=warning,style,performance,portability --std=c11 \
	    --library=posix --inline-suppr --error-exitcode=1 -D_GNU_SOURCE \
	    --suppress=missingIncludeSystem \
	    --suppressions-list=.cppcheck-suppressions --quiet $(LINT_SRCS)
	$(CLANG_TIDY) --quiet --warnings-as-errors='*' $(LINT_SRCS) -- \
	    $(CSTD) $(DEPS_CFLAGS)

# --- fuzzing: libFuzzer harnesses (clang) -------------------------------
# fuzz/fuzz_{session,passwd,mbox,proxy,maildir,maildir_cache}.c with seed corpora in fuzz/corpus/NAME
# (reproducers of fixed findings included).  `make fuzz` fuzzes each for
# FUZZ_SECONDS; new inputs go to build/fuzz/corpus-NAME, crashes to
# build/fuzz/artifacts/.  `make fuzz-check` runs each over its committed
# corpus and then fuzzes it for 3 seconds.  clang's flags, not $(WARN)
# alone: the harnesses need the libFuzzer runtime.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR      = build/fuzz
FUZZ_NAMES    = session passwd mbox proxy maildir maildir_cache
FUZZ_BINS     = $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_CFLAGS   = $(CSTD) $(WARN) -g -O1 -fno-omit-frame-pointer -I. \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
# No sleeping after failed logins, no setresuid() when run as root, no
# syslog: see fuzz/fuzz_util.c.
FUZZ_WRAP     = -Wl,--wrap=nanosleep,--wrap=clock_nanosleep,--wrap=geteuid,--wrap=syslog
FUZZ_COMMON   = fuzz/fuzz_util.c fuzz/fuzz_util.h $(LIB_SRCS) $(HDRS)

# The library and fuzz_util.c compiled once for every harness but
# fuzz_mbox (whose small blocks change the library itself): objects with
# the fuzzer's coverage instrumentation, linked into each harness.
FUZZ_OBJ_DIR  = $(FUZZ_DIR)/obj
FUZZ_OBJS     = $(LIB_SRCS:%.c=$(FUZZ_OBJ_DIR)/%.o) $(FUZZ_OBJ_DIR)/fuzz_util.o
comma := ,
FUZZ_OBJ_CFLAGS = $(subst -fsanitize=fuzzer$(comma),-fsanitize=fuzzer-no-link$(comma),$(FUZZ_CFLAGS))

$(FUZZ_OBJ_DIR)/%.o: %.c $(HDRS)
	@mkdir -p $(FUZZ_OBJ_DIR)
	$(FUZZ_CC) $(FUZZ_OBJ_CFLAGS) $(DEPS_CFLAGS) -c -o $@ $<

$(FUZZ_OBJ_DIR)/fuzz_util.o: fuzz/fuzz_util.c fuzz/fuzz_util.h $(HDRS)
	@mkdir -p $(FUZZ_OBJ_DIR)
	$(FUZZ_CC) $(FUZZ_OBJ_CFLAGS) $(DEPS_CFLAGS) -c -o $@ fuzz/fuzz_util.c

$(FUZZ_DIR)/fuzz_session $(FUZZ_DIR)/fuzz_passwd $(FUZZ_DIR)/fuzz_proxy \
    $(FUZZ_DIR)/fuzz_maildir $(FUZZ_DIR)/fuzz_maildir_cache: $(FUZZ_DIR)/%: fuzz/%.c \
    fuzz/fuzz_util.h $(HDRS) $(FUZZ_OBJS)
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPS_CFLAGS) -o $@ fuzz/$*.c \
	    $(FUZZ_OBJS) $(FUZZ_WRAP) $(DEPS_LIBS)

# 256-byte mbox blocks: see fuzz/small_blocks.h.
$(FUZZ_DIR)/fuzz_mbox: fuzz/fuzz_mbox.c fuzz/small_blocks.h $(FUZZ_COMMON)
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -include fuzz/small_blocks.h $(DEPS_CFLAGS) \
	    -o $@ fuzz/fuzz_mbox.c fuzz/fuzz_util.c $(LIB_SRCS) $(FUZZ_WRAP) \
	    $(DEPS_LIBS)

.PHONY: fuzz fuzz-check fuzz-deps
fuzz-deps: deps
	@FUZZ_CC=$(FUZZ_CC) sh fuzz/setup-deps.sh

fuzz: fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS)
	@sh fuzz/run.sh fuzz $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-check: fuzz-deps
	@$(MAKE) --no-print-directory -j2 $(FUZZ_BINS)
	@sh fuzz/run.sh check 3 $(FUZZ_NAMES)

# --- benchmark: pop3d against popa3d and Dovecot (not part of check) -----
# bench/run.sh generates the mboxes, installs the peers when missing, and
# writes bench/results/latest.csv, bench/results/ratios.png and
# bench/RESULTS.md.  Its parameters, given as make or environment
# variables, are passed on only when set; the defaults are in the script.

BENCH_VARS = BENCH_SIZES BENCH_LARGE_MB BENCH_BIGMSG_MB BENCH_RUNS \
             BENCH_SLOW_S BENCH_TINY BENCH_SEED BENCH_WORKDIR \
             BENCH_HAPROXY_CLIENTS BENCH_HAPROXY_SECONDS \
             BENCH_MAILDIR_SIZES BENCH_MAILDIR_MEAN BENCH_MAILDIR_LOOPFS

.PHONY: bench bench-haproxy bench-maildir
bench: deps
	@env $(foreach v,$(BENCH_VARS),$(if $($(v)),$(v)='$($(v))')) \
	    bash bench/run.sh

bench-haproxy: deps
	@env $(foreach v,$(BENCH_VARS),$(if $($(v)),$(v)='$($(v))')) \
	    bash bench/haproxy.sh

bench-maildir: deps
	@env $(foreach v,$(BENCH_VARS),$(if $($(v)),$(v)='$($(v))')) \
	    bash bench/maildir.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@sh demo/run-demo.sh

# Paths in the service files are substituted for the chosen directories.
SUBST = sed -e 's,@SBINDIR@,$(SBINDIR),g' -e 's,@SYSCONFDIR@,$(SYSCONFDIR),g'

# The settings file.  pop3d reads CONFIG_DEFAULT (params.h's
# DEFAULT_CONFIG_FILE; tests/e2e/install.sh checks they agree) unless
# told otherwise, and the service files pass no settings of their own:
# installed under another SYSCONFDIR they name the file there with
# --config, or they would run with none of it.  Otherwise they are the
# sources as they are.
CONFIG_DEFAULT = /etc/pop3d/pop3d.conf
CONFIG_FILE = $(SYSCONFDIR)/pop3d/pop3d.conf
CONFIG_ARG = $(if $(filter-out $(CONFIG_DEFAULT),$(CONFIG_FILE)),--config $(CONFIG_FILE))
UNIT_SUBST = $(SUBST) $(if $(CONFIG_ARG),-e 's|^ExecStart=[^ ]*|& $(CONFIG_ARG)|')
# After $(SUBST) FILE: xinetd's pop3 entry has no server_args (xinetd
# refuses an empty one), so the option is added to the line or a line
# is added for it.
XINETD_CONFIG = $(if $(CONFIG_ARG),| awk -v a='$(CONFIG_ARG)' \
    '/^[ \t]*server_args[ \t]*=/ { $$0 = $$0 " " a; n = 1 } \
     /^}/ && !n { print "\tserver_args\t= " a } { print }')

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(SYSCONFDIR)/pop3d \
	    $(DESTDIR)$(SYSCONFDIR)/xinetd.d $(DESTDIR)$(SYSCONFDIR)/pam.d \
	    $(DESTDIR)$(SYSCONFDIR)/fail2ban/filter.d \
	    $(DESTDIR)$(SYSCONFDIR)/fail2ban/jail.d \
	    $(DESTDIR)$(SYSTEMDUNITDIR)
	install -d -m 755 $(DESTDIR)$(PRIVSEP_DIR)
	install -m 755 pop3d pop3passwd $(DESTDIR)$(SBINDIR)/
	install -m 644 pop3d.8 pop3passwd.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 pam.d/pop3d $(DESTDIR)$(SYSCONFDIR)/pam.d/pop3d
	install -m 644 fail2ban/filter.d/pop3d.conf \
	    $(DESTDIR)$(SYSCONFDIR)/fail2ban/filter.d/pop3d.conf
	install -m 644 fail2ban/jail.d/pop3d.conf \
	    $(DESTDIR)$(SYSCONFDIR)/fail2ban/jail.d/pop3d.conf
# The administrator's settings are never replaced: a new version's
# defaults and comments are in etc/pop3d.conf for comparison.  Installed
# as root the file is root's, as pop3d requires (trust_open).
	@if [ -e $(DESTDIR)$(CONFIG_FILE) ] || [ -L $(DESTDIR)$(CONFIG_FILE) ]; then \
	    echo "$(DESTDIR)$(CONFIG_FILE) exists: kept, not replaced (the new defaults: etc/pop3d.conf)"; \
	else \
	    echo "install -m 644 etc/pop3d.conf $(DESTDIR)$(CONFIG_FILE)"; \
	    install -m 644 etc/pop3d.conf $(DESTDIR)$(CONFIG_FILE); \
	fi
	$(SUBST) xinetd.d/pop3 $(XINETD_CONFIG) > $(DESTDIR)$(SYSCONFDIR)/xinetd.d/pop3
	$(SUBST) xinetd.d/pop3s $(XINETD_CONFIG) > $(DESTDIR)$(SYSCONFDIR)/xinetd.d/pop3s
	$(UNIT_SUBST) systemd/pop3d@.service > $(DESTDIR)$(SYSTEMDUNITDIR)/pop3d@.service
	$(UNIT_SUBST) systemd/pop3s@.service > $(DESTDIR)$(SYSTEMDUNITDIR)/pop3s@.service
	install -m 644 systemd/pop3d.socket systemd/pop3s.socket \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/
	chmod 644 $(DESTDIR)$(SYSCONFDIR)/xinetd.d/pop3 \
	    $(DESTDIR)$(SYSCONFDIR)/xinetd.d/pop3s \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/pop3d@.service \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/pop3s@.service

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/pop3d $(DESTDIR)$(SBINDIR)/pop3passwd \
	    $(DESTDIR)$(MANDIR)/man8/pop3d.8 $(DESTDIR)$(MANDIR)/man8/pop3passwd.8 \
	    $(DESTDIR)$(SYSCONFDIR)/xinetd.d/pop3 \
	    $(DESTDIR)$(SYSCONFDIR)/xinetd.d/pop3s \
	    $(DESTDIR)$(SYSCONFDIR)/pam.d/pop3d \
	    $(DESTDIR)$(SYSCONFDIR)/fail2ban/filter.d/pop3d.conf \
	    $(DESTDIR)$(SYSCONFDIR)/fail2ban/jail.d/pop3d.conf \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/pop3d.socket \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/pop3d@.service \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/pop3s.socket \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/pop3s@.service
# The settings only as installed: a changed file is the administrator's.
# Its directory goes once empty (no password file, no certificate in it).
	@if [ -e $(DESTDIR)$(CONFIG_FILE) ]; then \
	    if cmp -s etc/pop3d.conf $(DESTDIR)$(CONFIG_FILE); then \
	        echo "rm -f $(DESTDIR)$(CONFIG_FILE)"; \
	        rm -f $(DESTDIR)$(CONFIG_FILE); \
	    else \
	        echo "$(DESTDIR)$(CONFIG_FILE) differs from etc/pop3d.conf: kept (your settings)"; \
	    fi; \
	fi
	@rmdir $(DESTDIR)$(dir $(CONFIG_FILE)) 2>/dev/null || true
	-rmdir $(DESTDIR)$(PRIVSEP_DIR) $(DESTDIR)$(dir $(PRIVSEP_DIR)) 2>/dev/null

# --- the Debian package (debian/) ----------------------------------------
# Built from a copy of the tree (its tracked and untracked, not ignored
# files) in build/deb/src, since dpkg-buildpackage writes its results to
# the parent directory: the .deb, .changes and .buildinfo land in
# build/deb/.  The build dependencies (debian/control) are installed
# first when dpkg-checkbuilddeps finds some missing.
DEB_DIR = build/deb

.PHONY: deb deb-check
deb:
	@dpkg-checkbuilddeps >/dev/null 2>&1 || \
	    { echo "pop3d: installing the package's build dependencies" >&2; \
	      sh tests/apt-install.sh dpkg-dev && \
	      apt-get -o DPkg::Lock::Timeout=300 build-dep -y -q ./ >/dev/null; }
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	git ls-files -z --cached --others --exclude-standard | \
	    xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' sh | \
	    tar --null -T - -cf - | tar -C $(DEB_DIR)/src -xf -
	cd $(DEB_DIR)/src && dpkg-buildpackage -us -uc -b
	@ls $(DEB_DIR)/*.deb

deb-check:
	@bash tests/deb.sh

clean:
	rm -rf pop3d pop3passwd build demo/run
