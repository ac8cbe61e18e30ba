# confmail - see README.md.  `make demo` and `make check` set up everything.

PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
PKG_CONFIG ?= pkg-config

PKGS = gmime-3.0 sqlite3 libpcre2-8 json-glib-1.0 gmodule-2.0
# libxml2, libxlsxwriter, libetpan and GnuTLS are opened at run time by
# their sonames (src/text.c, src/xlsx.c, src/etpan.c), not linked: the
# intake runs once per delivered message and never needs them, and loading
# them cost it more than half its start-up.  Only their headers are used.
XML_CFLAGS := $(shell $(PKG_CONFIG) --cflags libxml-2.0) $(shell $(PKG_CONFIG) --cflags xlsxwriter) \
	$(shell $(PKG_CONFIG) --cflags gnutls)
# libetpan ships a pkg-config file on Debian; older builds only libetpan-config.
ETPAN_CFLAGS := $(shell $(PKG_CONFIG) --cflags libetpan 2>/dev/null || libetpan-config --cflags 2>/dev/null)

CFLAGS ?= -O2 -g
WARNINGS = -std=c11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wformat-security \
	-Wstrict-prototypes -Wmissing-prototypes -Wmissing-declarations \
	-Wpointer-arith -Wvla -Wnull-dereference -Wundef -Wimplicit-fallthrough
DEPFLAGS = -MMD -MP
# Where the rules are once installed; a binary run from the source tree
# finds the filters/ beside it first.
RULES_DIR ?= $(PREFIX)/share/confmail/filters
TEMPLATES_DIR ?= $(PREFIX)/share/confmail/templates
BASE_CFLAGS = $(WARNINGS) -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L \
	-DLIBXML2_SONAME='"libxml2.so.2"' -DLIBXLSXWRITER_SONAME='"libxlsxwriter.so.4"' \
	-DLIBETPAN_SONAME='"libetpan.so.20"' -DLIBGNUTLS_SONAME='"libgnutls.so.30"' $(XML_CFLAGS) \
	$(shell $(PKG_CONFIG) --cflags $(PKGS)) $(ETPAN_CFLAGS)
ALL_CFLAGS = $(BASE_CFLAGS) -DCONFMAIL_RULES_DIR='"$(RULES_DIR)"' \
	-DCONFMAIL_TEMPLATES_DIR='"$(TEMPLATES_DIR)"' $(CFLAGS) $(SANFLAGS)
LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS))
LDFLAGS += $(SANFLAGS)
# src/xlsx.c stands in for minizip's zipOpenNewFileInZip4_64 when
# libxlsxwriter calls it (to deflate at level 1): the name must be seen
LDFLAGS += -Wl,--export-dynamic-symbol=zipOpenNewFileInZip4_64

SRCS = $(wildcard src/*.c)
OBJS = $(SRCS:src/%.c=$(BUILD)/%.o)
# Unit tests link the modules, not the commands.
LIB_OBJS = $(filter-out $(BUILD)/main.o $(BUILD)/cmd_%.o,$(OBJS))
UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

# The binary of the default build sits at the top, where tools/score and
# the examples look for it; other builds (sanitize) keep theirs in BUILD.
ifeq ($(BUILD),build)
BIN = confmail
CLIENT = confmail-filter
else
BIN = $(BUILD)/confmail
CLIENT = $(BUILD)/confmail-filter
endif

.PHONY: all check unit integration sanitize valgrind fuzz fuzz-build demo bench install clean deps print-libs

all: $(BIN) $(CLIENT)

# the libraries the binary links (tests/bench/intake links an empty
# program the same way, to show what loading them costs)
print-libs:
	@echo $(LIBS)

$(BIN): $(OBJS)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LIBS)

# The MDA half of `confmail serve`: libc alone, so that it starts as fast
# as /bin/true (src/client/confmail-filter.c).
$(CLIENT): src/client/confmail-filter.c src/wire.h
	@echo "  CC      $@"
	@$(CC) $(WARNINGS) -D_DEFAULT_SOURCE $(CFLAGS) $(SANFLAGS) -o $@ $<

$(BUILD)/%.o: src/%.c | $(BUILD)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) | $(BUILD)/tests
	@echo "  CC      $@"
	@$(CC) $(ALL_CFLAGS) -Isrc -DTOP_SRCDIR='"$(CURDIR)"' $(shell $(PKG_CONFIG) --cflags cmocka) $(LDFLAGS) \
		-o $@ $< $(LIB_OBJS) $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka)

$(BUILD) $(BUILD)/tests:
	mkdir -p $@

unit: $(UNIT_BINS)
integration: $(BIN)

# Every test, unit and end-to-end, against the binary of this build.
check: $(BIN) $(CLIENT) $(UNIT_BINS)
	CONFMAIL=$(abspath $(BIN)) UNIT_DIR=$(abspath $(BUILD)/tests) tests/run

# The same tests, built and run with AddressSanitizer and UBSan.
sanitize:
	CONFMAIL_SANITIZED=1 $(MAKE) BUILD=build/san RULES_DIR=$(CURDIR)/filters TEMPLATES_DIR=$(CURDIR)/templates \
		CFLAGS="-O1 -g -fno-omit-frame-pointer" \
		SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" check

# The end-to-end intake under valgrind: no errors, nothing definitely lost.
valgrind: $(BIN)
	CONFMAIL=$(abspath $(BIN)) tests/integration/valgrind.sh

# libFuzzer targets (tests/fuzz/fuzz_*.c) over the modules, built with
# clang, ASan and UBSan into build/fuzz; `make fuzz` runs each for
# FUZZ_SECONDS on a corpus made at run time (tests/fuzz/make-corpus).
# Crashes are written to build/fuzz/artifacts/TARGET/.
FUZZ_CC ?= clang
FUZZ = build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = mail rules template dsn
FUZZ_OPTIONS ?= -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = $(BASE_CFLAGS) -Isrc -DCONFMAIL_RULES_DIR='"$(CURDIR)/filters"' \
	-DCONFMAIL_TEMPLATES_DIR='"$(CURDIR)/templates"' -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN)
FUZZ_OBJS = $(filter-out $(FUZZ)/obj/main.o $(FUZZ)/obj/cmd_%.o,$(SRCS:src/%.c=$(FUZZ)/obj/%.o))
FUZZ_BINS = $(FUZZ_TARGETS:%=$(FUZZ)/fuzz_%)

$(FUZZ)/obj/%.o: src/%.c | $(FUZZ)/obj
	@echo "  CC      $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(DEPFLAGS) -c -o $@ $<

$(FUZZ)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_OBJS) | $(FUZZ)/obj
	@echo "  LD      $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(LIBS)

# the objects are kept between builds
.SECONDARY: $(FUZZ_OBJS)

$(FUZZ)/obj:
	mkdir -p $@

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
		tests/fuzz/make-corpus $$t $(FUZZ)/corpus-$$t && \
		mkdir -p $(FUZZ)/artifacts/$$t && \
		echo "  FUZZ    $$t ($(FUZZ_SECONDS) s)" && \
		$(FUZZ)/fuzz_$$t $(FUZZ_OPTIONS) -max_total_time=$(FUZZ_SECONDS) \
			-artifact_prefix=$(FUZZ)/artifacts/$$t/ $(FUZZ)/corpus-$$t \
			>$(FUZZ)/fuzz-$$t.log 2>&1 || { tail -40 $(FUZZ)/fuzz-$$t.log; exit 1; }; \
		grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec)|^#[0-9]+.*DONE' \
			$(FUZZ)/fuzz-$$t.log | sed 's/^/          /'; \
	done

# Builds and runs the sample conference; installs dependencies when root.
demo:
	contrib/install-deps
	$(MAKE) all
	contrib/demo

bench: $(BIN) $(CLIENT)
	tests/bench/intake

install: $(BIN) $(CLIENT)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/confmail \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 \
		$(DESTDIR)$(PREFIX)/share/doc/confmail/examples
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/confmail
	install -m 755 $(CLIENT) $(DESTDIR)$(PREFIX)/bin/confmail-filter
	cp -R filters templates $(DESTDIR)$(PREFIX)/share/confmail/
	install -m 644 contrib/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 contrib/man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 644 contrib/icssi-2022.conf contrib/procmailrc contrib/postfix-master.cf \
		contrib/aliases contrib/exim.conf contrib/crontab contrib/systemd/*.service \
		contrib/systemd/*.timer $(DESTDIR)$(PREFIX)/share/doc/confmail/examples/

deps:
	contrib/install-deps

clean:
	rm -rf build confmail confmail-filter demo

-include $(OBJS:.o=.d) $(FUZZ_OBJS:.o=.d)
