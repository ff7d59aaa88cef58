# tests/s5066.mk - s5066 unit tests and fuzz targets

# ---- unit tests ----
check_PROGRAMS += tests/unit/s5066_codec_test
tests_unit_s5066_codec_test_SOURCES = tests/unit/s5066_codec_test.c
tests_unit_s5066_codec_test_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_s5066_codec_test_LDADD = s5066/libs5066.a util/libutil.a
TESTS += tests/unit/s5066_codec_test

# ---- fuzz targets (see tests/local.mk) ----
check_PROGRAMS += tests/fuzz/replay_sis
tests_fuzz_replay_sis_SOURCES = tests/fuzz/fuzz_sis.c tests/fuzz/replay.c
tests_fuzz_replay_sis_CPPFLAGS = $(TESTS_CPPFLAGS) -DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/sis"'
tests_fuzz_replay_sis_LDADD = s5066/libs5066.a util/libutil.a
TESTS += tests/fuzz/replay_sis
EXTRA_DIST += tests/fuzz/corpus/sis
if BUILD_FUZZERS
noinst_PROGRAMS += tests/fuzz/fuzz_sis
tests_fuzz_fuzz_sis_SOURCES = tests/fuzz/fuzz_sis.c
tests_fuzz_fuzz_sis_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_fuzz_fuzz_sis_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_sis_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_sis_LDADD = s5066/libs5066.a util/libutil.a
endif

check_PROGRAMS += tests/unit/s5066_client_test
tests_unit_s5066_client_test_SOURCES = tests/unit/s5066_client_test.c
tests_unit_s5066_client_test_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_s5066_client_test_LDADD = s5066/libs5066.a util/libutil.a
TESTS += tests/unit/s5066_client_test

# ---- s5066sim: channel model and per-node server engine ----
check_PROGRAMS += tests/unit/s5066_channel_test tests/unit/s5066_simnode_test
tests_unit_s5066_channel_test_SOURCES = tests/unit/s5066_channel_test.c
tests_unit_s5066_channel_test_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_s5066_channel_test_LDADD = s5066/libs5066.a util/libutil.a
tests_unit_s5066_simnode_test_SOURCES = tests/unit/s5066_simnode_test.c
tests_unit_s5066_simnode_test_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_s5066_simnode_test_LDADD = s5066/libs5066.a util/libutil.a
TESTS += tests/unit/s5066_channel_test tests/unit/s5066_simnode_test

# ---- s5066sim: fuzz the per-node server engine over the channel model ----
check_PROGRAMS += tests/fuzz/replay_simnode
tests_fuzz_replay_simnode_SOURCES = tests/fuzz/fuzz_simnode.c tests/fuzz/replay.c
tests_fuzz_replay_simnode_CPPFLAGS = $(TESTS_CPPFLAGS) -DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/simnode"'
tests_fuzz_replay_simnode_LDADD = s5066/libs5066.a util/libutil.a
TESTS += tests/fuzz/replay_simnode
EXTRA_DIST += tests/fuzz/corpus/simnode
if BUILD_FUZZERS
noinst_PROGRAMS += tests/fuzz/fuzz_simnode
tests_fuzz_fuzz_simnode_SOURCES = tests/fuzz/fuzz_simnode.c
tests_fuzz_fuzz_simnode_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_fuzz_fuzz_simnode_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_simnode_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_simnode_LDADD = s5066/libs5066.a util/libutil.a
endif
