# tests/limits_smtp.mk - issue 13: bounded memory and fair intake (smtp)

# ---- SMTP server: slowloris clients (command and transfer deadlines, a
# per-client session cap) and a flood from a network that is not allowed
# (disconnected after its 554, holding no slot); the engine's deadlines are
# in tests/unit/smtpgw_server_test (tests/smtpgw.mk) ----
TESTS += tests/integration/smtp_slowloris.sh
EXTRA_DIST += tests/integration/smtp_slowloris.sh

# ---- the spool's envelope files, read back after a crash: the parser as a
# pure function (smtpgw_envelope_parse), its outcomes on the seed corpus,
# and a fuzz target replaying that corpus ----
check_PROGRAMS += tests/unit/smtpgw_envelope_test
tests_unit_smtpgw_envelope_test_SOURCES = tests/unit/smtpgw_envelope_test.c
tests_unit_smtpgw_envelope_test_CPPFLAGS = $(TESTS_CPPFLAGS) -DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/spool_envelope"'
tests_unit_smtpgw_envelope_test_LDADD = $(SMTPGW_TEST_LDADD)
TESTS += tests/unit/smtpgw_envelope_test

check_PROGRAMS += tests/fuzz/replay_spool_envelope
tests_fuzz_replay_spool_envelope_SOURCES = tests/fuzz/fuzz_spool_envelope.c tests/fuzz/replay.c
tests_fuzz_replay_spool_envelope_CPPFLAGS = $(TESTS_CPPFLAGS) -DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/spool_envelope"'
tests_fuzz_replay_spool_envelope_LDADD = $(SMTPGW_TEST_LDADD)
TESTS += tests/fuzz/replay_spool_envelope
EXTRA_DIST += tests/fuzz/corpus/spool_envelope
if BUILD_FUZZERS
noinst_PROGRAMS += tests/fuzz/fuzz_spool_envelope
tests_fuzz_fuzz_spool_envelope_SOURCES = tests/fuzz/fuzz_spool_envelope.c
tests_fuzz_fuzz_spool_envelope_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_fuzz_fuzz_spool_envelope_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_spool_envelope_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_spool_envelope_LDADD = $(SMTPGW_TEST_LDADD)
endif

# ---- SMTP server: slowloris clients spread over 50 allowed addresses fill
# every slot; a new client takes the slot of the session that has waited
# longest for a command (busy mode) ----
TESTS += tests/integration/smtp_slowloris_spread.sh
EXTRA_DIST += tests/integration/smtp_slowloris_spread.sh
