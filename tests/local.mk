# tests/local.mk - unit tests, fuzz targets (and their corpus replays), integration scripts
TESTS_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit
EXTRA_DIST += tests/unit/harness.h tests/fuzz/fuzz.h tests/fuzz/replay.c

# ---- unit tests ----
check_PROGRAMS += tests/unit/util_test
tests_unit_util_test_SOURCES = tests/unit/util_test.c
tests_unit_util_test_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_util_test_LDADD = util/libutil.a
TESTS += tests/unit/util_test

# ---- fuzz targets ----
# Each target tests/fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput.  It is
# linked with replay.c into tests/fuzz/replay_<name>, which runs the seed
# corpus tests/fuzz/corpus/<name>/ in make check with any compiler; with
# --enable-fuzzers it is also linked with libFuzzer as tests/fuzz/fuzz_<name>.

check_PROGRAMS += tests/fuzz/replay_conf
tests_fuzz_replay_conf_SOURCES = tests/fuzz/fuzz_conf.c tests/fuzz/replay.c
tests_fuzz_replay_conf_CPPFLAGS = $(TESTS_CPPFLAGS) -DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/conf"'
tests_fuzz_replay_conf_LDADD = util/libutil.a
TESTS += tests/fuzz/replay_conf
EXTRA_DIST += tests/fuzz/corpus/conf
if BUILD_FUZZERS
noinst_PROGRAMS += tests/fuzz/fuzz_conf
tests_fuzz_fuzz_conf_SOURCES = tests/fuzz/fuzz_conf.c
tests_fuzz_fuzz_conf_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_fuzz_fuzz_conf_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_conf_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_conf_LDADD = util/libutil.a
endif

include tests/integration/local.mk
include tests/s5066.mk
include tests/pmul.mk
include tests/mule.mk
include tests/smtpgw.mk
include tests/ctl.mk
include tests/wire.mk
include tests/cli.mk
include tests/gw.mk
include tests/limits_pmul.mk
include tests/limits_sis.mk
include tests/limits_smtp.mk
include tests/limits_sim.mk
include tests/air.mk
