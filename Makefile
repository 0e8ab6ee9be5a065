# shilian — top-level Makefile.
# The extension is built with PGXS; the gateway, the offline verifier, the
# test driver and the private run cluster have plain targets below.

EXTENSION   = shilian
EXTVERSION  = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" shilian.control)

MODULE_big  = shilian
# extension/core/ holds the pure algorithms (no PostgreSQL headers): they are
# linked into the extension, into shilian-verify and into the C unit tests.
CORE_SRCS   = $(sort $(wildcard extension/core/*.c))
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard extension/*.c)) $(CORE_SRCS))
# The current install script is built from sql/src/; each upgrade script
# sql/shilian--A--B.sql from the parts in sql/update/A--B/. Released install
# scripts (sql/shilian--0.1.0.sql, ...) are checked in and never edited: a
# database installed at that version upgrades from it (docs/development.md).
UPDATE_DIRS = $(sort $(wildcard sql/update/*--*))
UPDATE_SQL  = $(patsubst sql/update/%,sql/$(EXTENSION)--%.sql,$(UPDATE_DIRS))
DATA_built  = sql/$(EXTENSION)--$(EXTVERSION).sql $(UPDATE_SQL)
DATA        = $(filter-out sql/$(EXTENSION)--$(EXTVERSION).sql $(UPDATE_SQL),$(wildcard sql/$(EXTENSION)--*.sql))

TESTS        = $(sort $(wildcard tests/regress/sql/*.sql))
REGRESS      = $(patsubst tests/regress/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=tests/regress --outputdir=.tmp/regress --load-extension=$(EXTENSION)

PG_CONFIG  ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PG_CPPFLAGS = -Iextension -Iextension/core -DSHILIAN_VERSION=\"$(EXTVERSION)\"
PG_CFLAGS   = -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
SHLIB_LINK  = -lcrypto
EXTRA_CLEAN = shilian-verify gateway/shilian-gateway deliver/shilian-deliver $(wildcard tests/unit/*_test) .tmp/regress

# JIT bitcode needs clang; the extension gains nothing from it.
override with_llvm = no
# Rebuild what includes a changed header (.deps/*.Po, gcc -MMD): without it
# a changed struct in a header leaves stale objects behind.
override autodepend = yes

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The version is compiled in (-DSHILIAN_VERSION): a bump rebuilds what uses it.
extension/shilian.o extension/schema_version.o: shilian.control

# The install script is concatenated from sql/src/ in file-name order, so each
# area (types, ledger, records, ...) edits its own file.
sql/$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard sql/src/*.sql)) shilian.control
	cat $(sort $(wildcard sql/src/*.sql)) > $@

.SECONDEXPANSION:
$(UPDATE_SQL): sql/$(EXTENSION)--%.sql: $$(sort $$(wildcard sql/update/%/*.sql))
	cat $(sort $(wildcard sql/update/$*/*.sql)) > $@

# ---- gateway -------------------------------------------------------------
GW_CC      ?= cc
GW_CFLAGS  ?= -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Iextension/core -I$(shell $(PG_CONFIG) --includedir) -DGW_VERSION=\"$(EXTVERSION)\"
GW_LDLIBS   = -lcivetweb -ljansson -lpq -ljwt -lcrypto -lpthread -lqrencode -lpng
# The gateway links the pure core files it needs (JSON limits).
GW_SRCS     = $(sort $(wildcard gateway/*.c)) extension/core/jsonlimit.c extension/core/strictdate.c
GW_HDRS     = $(wildcard gateway/*.h) extension/core/jsonlimit.h extension/core/strictdate.h

gateway/shilian-gateway: $(GW_SRCS) $(GW_HDRS) shilian.control
	$(GW_CC) $(GW_CFLAGS) $(GW_EXTRA_CFLAGS) -o $@ $(GW_SRCS) $(GW_LDLIBS) $(GW_EXTRA_LDFLAGS)

.PHONY: gateway deps run stop psql test test-ha test-assert bench unit
gateway: gateway/shilian-gateway deliver/shilian-deliver

# ---- webhook delivery worker (docs/webhooks.md) ------------------------------
# A separate small program beside the gateway: libcurl, libpq, OpenSSL.
deliver/shilian-deliver: deliver/shilian-deliver.c shilian.control
	$(GW_CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -I$(shell $(PG_CONFIG) --includedir) \
		-DDELIVER_VERSION=\"$(EXTVERSION)\" -o $@ deliver/shilian-deliver.c -lcurl -lpq -lcrypto -lpthread
deliver/shilian-deliver: | deps

# ---- pure C: offline verifier and unit tests -------------------------------
CORE_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -g -Wall -Wextra -Werror -Iextension/core
CORE_HDRS   = $(wildcard extension/core/*.h)
UNIT_SRCS   = $(sort $(wildcard tests/unit/*_test.c))
UNIT_BINS   = $(UNIT_SRCS:.c=)

tests/unit/%_test: tests/unit/%_test.c tests/unit/unit.h $(CORE_SRCS) $(CORE_HDRS)
	$(CC) $(CORE_CFLAGS) -Itests/unit -o $@ $< $(CORE_SRCS) -lcrypto

# The gateway's escaping (gateway/htmlbuf.c) is pure C too: tested alone.
tests/unit/htmlbuf_test: tests/unit/htmlbuf_test.c tests/unit/unit.h gateway/htmlbuf.c gateway/htmlbuf.h
	$(CC) $(CORE_CFLAGS) -Itests/unit -Igateway -o $@ $< gateway/htmlbuf.c

# The RFC 6962 vectors become a C include, so the unit test needs no JSON parser.
.tmp/unit/rfc6962_vectors.inc: tests/data/rfc6962-vectors.json tests/unit/rfc6962_vectors.jq
	@mkdir -p $(dir $@)
	jq -r -f tests/unit/rfc6962_vectors.jq $< > $@
tests/unit/merkle_test: .tmp/unit/rfc6962_vectors.inc
tests/unit/merkle_test: CORE_CFLAGS += -I.tmp/unit

# The EPCIS event hash examples (tests/data/epcis-hash/) likewise.
EVENTHASH_DOCS = $(sort $(wildcard tests/data/epcis-hash/*.jsonld))
.tmp/unit/eventhash_vectors.inc: $(EVENTHASH_DOCS) $(EVENTHASH_DOCS:.jsonld=.hashes) tests/unit/eventhash_vectors.jq
	@mkdir -p $(dir $@)
	@set -e; for f in $(EVENTHASH_DOCS); do b=$${f%.jsonld}; p=$$b.prehashes; [ -f $$p ] || p=/dev/null; \
		jq -r --arg name $$(basename $$b) --rawfile hashes $$b.hashes --rawfile pre $$p \
			-f tests/unit/eventhash_vectors.jq $$f; done > $@
tests/unit/eventhash_test: .tmp/unit/eventhash_vectors.inc
tests/unit/eventhash_test: CORE_CFLAGS += -I.tmp/unit

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "# $$t"; ./$$t; done

# The offline verifier: the pure core and OpenSSL, jansson for the JSON lines;
# no libpq and no server headers.
VERIFY_SRCS = $(sort $(wildcard extension/verify/*.c))

shilian-verify: $(VERIFY_SRCS) $(CORE_SRCS) $(CORE_HDRS)
	$(CC) $(CORE_CFLAGS) -o $@ $(VERIFY_SRCS) $(CORE_SRCS) -ljansson -lcrypto

all: shilian-verify

# ---- user targets ----------------------------------------------------------
deps:
	@tests/lib/deps.sh

all: deps
gateway/shilian-gateway: | deps

run: deps all gateway
	@tests/lib/run.sh start

stop:
	@tests/lib/run.sh stop

psql:
	@tests/lib/run.sh psql

test: deps all gateway
	@tests/lib/test.sh

# High availability, backups and point-in-time recovery (tests/ha/, docs/operations.md):
# pgBackRest, pg_auto_failover and the gateway across a failover. Apart from
# `make test` (its clusters and failovers take a few minutes); .ci/run runs both.
test-ha: deps all gateway
	@tests/lib/test.sh tests/ha/*.pl

# ---- fuzzing (libFuzzer, clang from Debian) --------------------------------
# Harnesses in tests/fuzz/, seed corpora in tests/fuzz/corpus/NAME/. `make
# fuzz` builds each with ASan and UBSan and runs it FUZZ_RUNS times over a
# working copy of its corpus in .tmp/fuzz/ (new finds stay there; `make
# fuzz-merge` minimises them into the checked-in corpus).
FUZZ_CC     ?= clang
FUZZ_CFLAGS  = -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g -O1 \
	-Wall -Wno-unused-parameter -Wno-ignored-attributes -Iextension -Iextension/core
FUZZ_RUNS   ?= 200000
FUZZ_PGLIB   = $(shell $(PG_CONFIG) --pkglibdir)
FUZZ_SERVER  = -I$(shell $(PG_CONFIG) --includedir-server)
FUZZ_TYPES_SRCS = tests/fuzz/fuzz_types.c tests/fuzz/pg_stub.c extension/uscc.c extension/license_no.c \
	extension/trace_code.c extension/qty.c extension/literal.c extension/core/checkchar.c
FUZZ_TARGETS = types json canon http
# the gateway logs every refused database connection (there is none here)
FUZZ_OPTS_http = -close_fd_mask=2
FUZZ_HTTP_SRCS = tests/fuzz/fuzz_http.c tests/fuzz/mg_stub.c $(filter-out gateway/main.c,$(GW_SRCS))

.tmp/fuzz/fuzz_types: $(FUZZ_TYPES_SRCS) tests/fuzz/pg_stub.h extension/types.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SERVER) -o $@ $(FUZZ_TYPES_SRCS) \
		$(FUZZ_PGLIB)/libpgcommon.a $(FUZZ_PGLIB)/libpgport.a
.tmp/fuzz/fuzz_json: tests/fuzz/fuzz_json.c extension/core/jsonlimit.c extension/core/jsonlimit.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_json.c extension/core/jsonlimit.c -ljansson
.tmp/fuzz/fuzz_canon: tests/fuzz/fuzz_canon.c $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_canon.c $(CORE_SRCS) -lcrypto

.tmp/fuzz/fuzz_http: $(FUZZ_HTTP_SRCS) tests/fuzz/mg_stub.h $(GW_HDRS) shilian.control
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Igateway -Itests/fuzz -I$(shell $(PG_CONFIG) --includedir) \
		-DGW_VERSION=\"$(EXTVERSION)\" -o $@ $(FUZZ_HTTP_SRCS) $(GW_LDLIBS:-lcivetweb=)

.PHONY: fuzz fuzz-merge
fuzz: deps $(addprefix .tmp/fuzz/fuzz_,$(FUZZ_TARGETS))
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p .tmp/fuzz/corpus/$$t; cp -n tests/fuzz/corpus/$$t/* .tmp/fuzz/corpus/$$t/ 2>/dev/null || true; \
		printf '%-8s ' $$t; \
		.tmp/fuzz/fuzz_$$t $(FUZZ_OPTS_$$t) -runs=$(FUZZ_RUNS) -print_final_stats=1 .tmp/fuzz/corpus/$$t > .tmp/fuzz/$$t.log 2>&1 \
			|| { echo FAILED; tail -40 .tmp/fuzz/$$t.log; exit 1; }; \
		grep -E '^stat::number_of_executed_units' .tmp/fuzz/$$t.log | sed 's/.*: /executions: /'; \
	done

fuzz-merge: $(addprefix .tmp/fuzz/fuzz_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do .tmp/fuzz/fuzz_$$t -merge=1 tests/fuzz/corpus/$$t .tmp/fuzz/corpus/$$t; done

# every suite again on an assert-enabled server built from Debian's source
# package (cached outside the clone; the first run builds it)
test-assert: deps
	@tests/lib/test_assert.sh

bench: deps all gateway
	@tests/lib/bench.sh

# ---- install, packages and the package test (docs/install.md) --------------
# `make install` installs the extension (PGXS, into the server's directories
# whatever prefix says) and the gateway's files below. prefix moves only the
# gateway's files (default /usr/local, /usr for packages); DESTDIR stages all.
GW_PREFIX   = $(if $(filter command line,$(origin prefix)),$(prefix),/usr/local)
GW_BINDIR  ?= $(GW_PREFIX)/bin
GW_MANDIR  ?= $(GW_PREFIX)/share/man
GW_DOCDIR  ?= $(GW_PREFIX)/share/doc/shilian
GW_UNITDIR ?= $(GW_PREFIX)/lib/systemd/system
GW_CONFDIR ?= /etc/shilian
GW_DIST     = gateway/dist

.PHONY: install-gateway uninstall-gateway deb test-packages
install: install-gateway
uninstall: uninstall-gateway

# The example config goes to $(GW_CONFDIR)/gateway.conf only where there is
# none yet (an edited config is never overwritten); it is always in the docs.
install-gateway: gateway/shilian-gateway shilian-verify deliver/shilian-deliver
	install -d '$(DESTDIR)$(GW_BINDIR)' '$(DESTDIR)$(GW_MANDIR)/man1' '$(DESTDIR)$(GW_MANDIR)/man8' \
		'$(DESTDIR)$(GW_UNITDIR)' '$(DESTDIR)$(GW_CONFDIR)' '$(DESTDIR)$(GW_DOCDIR)'
	install -m 755 gateway/shilian-gateway shilian-verify deliver/shilian-deliver '$(DESTDIR)$(GW_BINDIR)/'
	install -m 644 $(GW_DIST)/shilian-gateway.8 '$(DESTDIR)$(GW_MANDIR)/man8/'
	install -m 644 $(GW_DIST)/shilian-verify.1 '$(DESTDIR)$(GW_MANDIR)/man1/'
	sed -e 's|@bindir@|$(GW_BINDIR)|g' -e 's|@confdir@|$(GW_CONFDIR)|g' $(GW_DIST)/shilian-gateway.service.in \
		> '$(DESTDIR)$(GW_UNITDIR)/shilian-gateway.service'
	chmod 644 '$(DESTDIR)$(GW_UNITDIR)/shilian-gateway.service'
	sed -e 's|@bindir@|$(GW_BINDIR)|g' -e 's|@confdir@|$(GW_CONFDIR)|g' $(GW_DIST)/shilian-deliver.service.in \
		> '$(DESTDIR)$(GW_UNITDIR)/shilian-deliver.service'
	chmod 644 '$(DESTDIR)$(GW_UNITDIR)/shilian-deliver.service'
	install -m 644 $(GW_DIST)/gateway.conf '$(DESTDIR)$(GW_DOCDIR)/gateway.conf.example'
	install -m 644 docs/install.md '$(DESTDIR)$(GW_DOCDIR)/'
	[ -e '$(DESTDIR)$(GW_CONFDIR)/gateway.conf' ] || install -m 644 $(GW_DIST)/gateway.conf '$(DESTDIR)$(GW_CONFDIR)/gateway.conf'

# The config and its directory stay (they may hold edits and the secret).
uninstall-gateway:
	rm -f '$(DESTDIR)$(GW_BINDIR)/shilian-gateway' '$(DESTDIR)$(GW_BINDIR)/shilian-verify' '$(DESTDIR)$(GW_BINDIR)/shilian-deliver' \
		'$(DESTDIR)$(GW_MANDIR)/man8/shilian-gateway.8' '$(DESTDIR)$(GW_MANDIR)/man1/shilian-verify.1' \
		'$(DESTDIR)$(GW_UNITDIR)/shilian-gateway.service' '$(DESTDIR)$(GW_UNITDIR)/shilian-deliver.service' \
		'$(DESTDIR)$(GW_DOCDIR)/gateway.conf.example' '$(DESTDIR)$(GW_DOCDIR)/install.md'

# Debian packages postgresql-15-shilian and shilian-gateway in .tmp/deb/,
# built with dpkg-deb from one staged `make install` (no network, no root).
deb: deps all gateway
	$(GW_DIST)/deb/build.sh $(EXTVERSION) .tmp/deb

# Installs both packages on this machine (root), runs them against a cluster
# made with pg_createcluster, then removes everything (tests/packages/).
test-packages: deb
	tests/packages/deb_test.sh .tmp/deb

# Quiet builds: no command lines unless V=1 (errors and warnings still show).
ifneq ($(V),1)
.SILENT:
endif
