# tests/mule.mk - mule unit tests, test programs and fuzz targets
MULE_TEST_CPPFLAGS = $(TESTS_CPPFLAGS) $(ZLIB_CFLAGS) -DMULE_DATA_DIR='"$(abs_top_srcdir)/tests/data/mule"'
MULE_TEST_LDADD = mule/libmule.a util/libutil.a $(ZLIB_LIBS)
EXTRA_DIST += tests/unit/mule_golden.h tests/data/mule

# ---- unit tests (golden files in tests/data/mule; MULE_UPDATE_GOLDEN=1 rewrites them) ----
check_PROGRAMS += tests/unit/mule_payload_test tests/unit/mule_cdt_test tests/unit/mule_inflate_test \
	tests/unit/mule_route_test tests/unit/mule_prio_test tests/unit/mule_dsn_test
tests_unit_mule_payload_test_SOURCES = tests/unit/mule_payload_test.c
tests_unit_mule_payload_test_CPPFLAGS = $(MULE_TEST_CPPFLAGS)
tests_unit_mule_payload_test_LDADD = $(MULE_TEST_LDADD)
tests_unit_mule_cdt_test_SOURCES = tests/unit/mule_cdt_test.c
tests_unit_mule_cdt_test_CPPFLAGS = $(MULE_TEST_CPPFLAGS)
tests_unit_mule_cdt_test_LDADD = $(MULE_TEST_LDADD)
tests_unit_mule_inflate_test_SOURCES = tests/unit/mule_inflate_test.c
tests_unit_mule_inflate_test_CPPFLAGS = $(MULE_TEST_CPPFLAGS)
tests_unit_mule_inflate_test_LDADD = $(MULE_TEST_LDADD)
tests_unit_mule_route_test_SOURCES = tests/unit/mule_route_test.c
tests_unit_mule_route_test_CPPFLAGS = $(MULE_TEST_CPPFLAGS)
tests_unit_mule_route_test_LDADD = $(MULE_TEST_LDADD)
tests_unit_mule_prio_test_SOURCES = tests/unit/mule_prio_test.c
tests_unit_mule_prio_test_CPPFLAGS = $(MULE_TEST_CPPFLAGS)
tests_unit_mule_prio_test_LDADD = $(MULE_TEST_LDADD)
tests_unit_mule_dsn_test_SOURCES = tests/unit/mule_dsn_test.c
tests_unit_mule_dsn_test_CPPFLAGS = $(MULE_TEST_CPPFLAGS)
tests_unit_mule_dsn_test_LDADD = $(MULE_TEST_LDADD)
TESTS += tests/unit/mule_payload_test tests/unit/mule_cdt_test tests/unit/mule_inflate_test \
	tests/unit/mule_route_test tests/unit/mule_prio_test tests/unit/mule_dsn_test

# ---- test programs for tests/integration/mule_*.sh ----
check_PROGRAMS += tests/unit/mule_dsn_tool tests/unit/mule_pcap_tool
tests_unit_mule_dsn_tool_SOURCES = tests/unit/mule_dsn_tool.c
tests_unit_mule_dsn_tool_CPPFLAGS = $(MULE_TEST_CPPFLAGS)
tests_unit_mule_dsn_tool_LDADD = $(MULE_TEST_LDADD)
tests_unit_mule_pcap_tool_SOURCES = tests/unit/mule_pcap_tool.c
tests_unit_mule_pcap_tool_CPPFLAGS = $(MULE_TEST_CPPFLAGS)
tests_unit_mule_pcap_tool_LDADD = mule/libmule.a s5066/libs5066.a util/libutil.a $(ZLIB_LIBS)

# ---- fuzz targets (see tests/local.mk) ----
check_PROGRAMS += tests/fuzz/replay_mule_ber
tests_fuzz_replay_mule_ber_SOURCES = tests/fuzz/fuzz_mule_ber.c tests/fuzz/replay.c
tests_fuzz_replay_mule_ber_CPPFLAGS = $(TESTS_CPPFLAGS) -DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/mule_ber"'
tests_fuzz_replay_mule_ber_LDADD = $(MULE_TEST_LDADD)
TESTS += tests/fuzz/replay_mule_ber
EXTRA_DIST += tests/fuzz/corpus/mule_ber
if BUILD_FUZZERS
noinst_PROGRAMS += tests/fuzz/fuzz_mule_ber
tests_fuzz_fuzz_mule_ber_SOURCES = tests/fuzz/fuzz_mule_ber.c
tests_fuzz_fuzz_mule_ber_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_fuzz_fuzz_mule_ber_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_mule_ber_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_mule_ber_LDADD = $(MULE_TEST_LDADD)
endif

check_PROGRAMS += tests/fuzz/replay_mule_bsmtp
tests_fuzz_replay_mule_bsmtp_SOURCES = tests/fuzz/fuzz_mule_bsmtp.c tests/fuzz/replay.c
tests_fuzz_replay_mule_bsmtp_CPPFLAGS = $(TESTS_CPPFLAGS) -DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/mule_bsmtp"'
tests_fuzz_replay_mule_bsmtp_LDADD = $(MULE_TEST_LDADD)
TESTS += tests/fuzz/replay_mule_bsmtp
EXTRA_DIST += tests/fuzz/corpus/mule_bsmtp
if BUILD_FUZZERS
noinst_PROGRAMS += tests/fuzz/fuzz_mule_bsmtp
tests_fuzz_fuzz_mule_bsmtp_SOURCES = tests/fuzz/fuzz_mule_bsmtp.c
tests_fuzz_fuzz_mule_bsmtp_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_fuzz_fuzz_mule_bsmtp_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_mule_bsmtp_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_mule_bsmtp_LDADD = $(MULE_TEST_LDADD)
endif
