# tests/smtpgw.mk - smtp-gw unit tests, test programs and fuzz targets
SMTPGW_TEST_LDADD = smtp-gw/libsmtpgw.a mule/libmule.a util/libutil.a $(ZLIB_LIBS)

# ---- SMTP server: engine unit test, glue test program, fuzz target ----
check_PROGRAMS += tests/unit/smtpgw_server_test
tests_unit_smtpgw_server_test_SOURCES = tests/unit/smtpgw_server_test.c
tests_unit_smtpgw_server_test_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_smtpgw_server_test_LDADD = $(SMTPGW_TEST_LDADD)
TESTS += tests/unit/smtpgw_server_test

# tests/integration/smtp_server.sh and smtp_bad_input.sh run it
check_PROGRAMS += tests/unit/smtpgw_server_tool
tests_unit_smtpgw_server_tool_SOURCES = tests/unit/smtpgw_server_tool.c
tests_unit_smtpgw_server_tool_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_smtpgw_server_tool_LDADD = $(SMTPGW_TEST_LDADD) $(EV_LIBS)

check_PROGRAMS += tests/fuzz/replay_smtp_server
tests_fuzz_replay_smtp_server_SOURCES = tests/fuzz/fuzz_smtp_server.c tests/fuzz/replay.c
tests_fuzz_replay_smtp_server_CPPFLAGS = $(TESTS_CPPFLAGS) -DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/smtp_server"'
tests_fuzz_replay_smtp_server_LDADD = $(SMTPGW_TEST_LDADD)
TESTS += tests/fuzz/replay_smtp_server
EXTRA_DIST += tests/fuzz/corpus/smtp_server
if BUILD_FUZZERS
noinst_PROGRAMS += tests/fuzz/fuzz_smtp_server
tests_fuzz_fuzz_smtp_server_SOURCES = tests/fuzz/fuzz_smtp_server.c
tests_fuzz_fuzz_smtp_server_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_fuzz_fuzz_smtp_server_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_smtp_server_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_smtp_server_LDADD = $(SMTPGW_TEST_LDADD)
endif

# ---- spool and SMTP client: unit tests, delivery test program, fuzz target ----
check_PROGRAMS += tests/unit/smtpgw_spool_test tests/unit/smtpgw_client_test
tests_unit_smtpgw_spool_test_SOURCES = tests/unit/smtpgw_spool_test.c
tests_unit_smtpgw_spool_test_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_smtpgw_spool_test_LDADD = $(SMTPGW_TEST_LDADD)
tests_unit_smtpgw_client_test_SOURCES = tests/unit/smtpgw_client_test.c
tests_unit_smtpgw_client_test_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_smtpgw_client_test_LDADD = $(SMTPGW_TEST_LDADD)
TESTS += tests/unit/smtpgw_spool_test tests/unit/smtpgw_client_test

# tests/integration/smtp_client.sh runs it against smtp-sink or a Python sink
check_PROGRAMS += tests/unit/smtpgw_deliver_tool
tests_unit_smtpgw_deliver_tool_SOURCES = tests/unit/smtpgw_deliver_tool.c
tests_unit_smtpgw_deliver_tool_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_smtpgw_deliver_tool_LDADD = $(SMTPGW_TEST_LDADD) $(EV_LIBS)
TESTS += tests/integration/smtp_client.sh
EXTRA_DIST += tests/integration/smtp_client.sh

check_PROGRAMS += tests/fuzz/replay_smtp_client
tests_fuzz_replay_smtp_client_SOURCES = tests/fuzz/fuzz_smtp_client.c tests/fuzz/replay.c
tests_fuzz_replay_smtp_client_CPPFLAGS = $(TESTS_CPPFLAGS) -DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/smtp_client"'
tests_fuzz_replay_smtp_client_LDADD = $(SMTPGW_TEST_LDADD)
TESTS += tests/fuzz/replay_smtp_client
EXTRA_DIST += tests/fuzz/corpus/smtp_client
if BUILD_FUZZERS
noinst_PROGRAMS += tests/fuzz/fuzz_smtp_client
tests_fuzz_fuzz_smtp_client_SOURCES = tests/fuzz/fuzz_smtp_client.c
tests_fuzz_fuzz_smtp_client_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_fuzz_fuzz_smtp_client_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_smtp_client_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_smtp_client_LDADD = $(SMTPGW_TEST_LDADD)
endif

# ---- the gateway engine: every DSN path, the receive rules, a fault matrix ----
check_PROGRAMS += tests/unit/smtpgw_gateway_test
tests_unit_smtpgw_gateway_test_SOURCES = tests/unit/smtpgw_gateway_test.c
tests_unit_smtpgw_gateway_test_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_smtpgw_gateway_test_LDADD = smtp-gw/libsmtpgw.a pmul/libpmul.a mule/libmule.a s5066/libs5066.a util/libutil.a $(ZLIB_LIBS)
TESTS += tests/unit/smtpgw_gateway_test
