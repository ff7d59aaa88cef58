# tests/pmul.mk - pmul unit tests and fuzz targets

# ---- unit tests ----
# The known-answer vectors are real P_MUL PDUs from libjpmul (see their README).
check_PROGRAMS += tests/unit/pmul_codec_test
tests_unit_pmul_codec_test_SOURCES = tests/unit/pmul_codec_test.c tests/unit/pmul_vectors.h
tests_unit_pmul_codec_test_CPPFLAGS = $(TESTS_CPPFLAGS) -DPMUL_VECTORS='"$(abs_top_srcdir)/tests/data/pmul/acp142-libjpmul"'
tests_unit_pmul_codec_test_LDADD = pmul/libpmul.a util/libutil.a
TESTS += tests/unit/pmul_codec_test
EXTRA_DIST += tests/data/pmul/acp142-libjpmul

# ---- fuzz targets (see tests/local.mk) ----
check_PROGRAMS += tests/fuzz/replay_pmul
tests_fuzz_replay_pmul_SOURCES = tests/fuzz/fuzz_pmul.c tests/fuzz/replay.c
tests_fuzz_replay_pmul_CPPFLAGS = $(TESTS_CPPFLAGS) -DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/pmul"'
tests_fuzz_replay_pmul_LDADD = pmul/libpmul.a util/libutil.a
TESTS += tests/fuzz/replay_pmul
EXTRA_DIST += tests/fuzz/corpus/pmul
if BUILD_FUZZERS
noinst_PROGRAMS += tests/fuzz/fuzz_pmul
tests_fuzz_fuzz_pmul_SOURCES = tests/fuzz/fuzz_pmul.c
tests_fuzz_fuzz_pmul_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_fuzz_fuzz_pmul_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_pmul_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_pmul_LDADD = pmul/libpmul.a util/libutil.a
endif

check_PROGRAMS += tests/unit/pmul_sim_test
tests_unit_pmul_sim_test_SOURCES = tests/unit/pmul_sim_test.c
tests_unit_pmul_sim_test_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_pmul_sim_test_LDADD = pmul/libpmul.a s5066/libs5066.a util/libutil.a $(LIBM)
TESTS += tests/unit/pmul_sim_test
