# tests/ctl.mk - the control channel (smtp-gw/control.c) and mulectl: engine
# unit test, the socket test program, its integration test, fuzz target
CTL_TEST_LDADD = smtp-gw/libsmtpgw.a mule/libmule.a util/libutil.a $(ZLIB_LIBS) $(EV_LIBS)
EXTRA_DIST += tests/unit/smtpgw_ctl_fake.h tests/unit/json_check.h

check_PROGRAMS += tests/unit/smtpgw_ctl_test
tests_unit_smtpgw_ctl_test_SOURCES = tests/unit/smtpgw_ctl_test.c
tests_unit_smtpgw_ctl_test_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_smtpgw_ctl_test_LDADD = $(CTL_TEST_LDADD)
TESTS += tests/unit/smtpgw_ctl_test

# tests/integration/ctl_socket.sh runs it (fake ops on a socket) against mulectl
check_PROGRAMS += tests/unit/smtpgw_ctl_tool
tests_unit_smtpgw_ctl_tool_SOURCES = tests/unit/smtpgw_ctl_tool.c
tests_unit_smtpgw_ctl_tool_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_smtpgw_ctl_tool_LDADD = $(CTL_TEST_LDADD)
TESTS += tests/integration/ctl_socket.sh
EXTRA_DIST += tests/integration/ctl_socket.sh

check_PROGRAMS += tests/fuzz/replay_ctl
tests_fuzz_replay_ctl_SOURCES = tests/fuzz/fuzz_ctl.c tests/fuzz/replay.c
tests_fuzz_replay_ctl_CPPFLAGS = $(TESTS_CPPFLAGS) -DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/ctl"'
tests_fuzz_replay_ctl_LDADD = $(CTL_TEST_LDADD)
TESTS += tests/fuzz/replay_ctl
EXTRA_DIST += tests/fuzz/corpus/ctl
if BUILD_FUZZERS
noinst_PROGRAMS += tests/fuzz/fuzz_ctl
tests_fuzz_fuzz_ctl_SOURCES = tests/fuzz/fuzz_ctl.c
tests_fuzz_fuzz_ctl_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_fuzz_fuzz_ctl_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_ctl_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_ctl_LDADD = $(CTL_TEST_LDADD)
endif
