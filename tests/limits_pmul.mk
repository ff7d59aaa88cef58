# tests/limits_pmul.mk - issue 13: bounded memory and fair intake (pmul)

# the receiver under a hostile peer, in engine time: state costs what was
# received, every record counted, slots given up at once, fair eviction,
# rate-limited warnings
check_PROGRAMS += tests/unit/pmul_limits_test
tests_unit_pmul_limits_test_SOURCES = tests/unit/pmul_limits_test.c
tests_unit_pmul_limits_test_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_pmul_limits_test_LDADD = pmul/libpmul.a s5066/libs5066.a util/libutil.a $(LIBM)
TESTS += tests/unit/pmul_limits_test

# the same over UDP with real processes and raw PDUs from pmul_flood.py,
# asserting the receiver's peak RSS: 20,000 orphans then a valid message
# from another node; 1000 messages claiming 65535 Data_PDUs (< 4 MB);
# 60 messages through 50 slots
TESTS += tests/integration/pmul_orphan_flood.sh tests/integration/pmul_amplify.sh \
	tests/integration/pmul_rx_slots.sh
EXTRA_DIST += tests/integration/pmul_orphan_flood.sh tests/integration/pmul_amplify.sh \
	tests/integration/pmul_rx_slots.sh tests/integration/pmul_limits_lib.sh \
	tests/integration/pmul_flood.py
