# tests/air.mk - issue 14: the air (P_MUL efficiency and interoperability)

# ---- the engine against libjpmul's recorded PDUs and its readings of
# ACP 142 (acker's id in Ack_Info_Entries, zero padding) ----
check_PROGRAMS += tests/unit/pmul_interop_test
tests_unit_pmul_interop_test_SOURCES = tests/unit/pmul_interop_test.c tests/unit/pmul_vectors.h
tests_unit_pmul_interop_test_CPPFLAGS = $(TESTS_CPPFLAGS) -DPMUL_VECTORS='"$(abs_top_srcdir)/tests/data/pmul/acp142-libjpmul"'
tests_unit_pmul_interop_test_LDADD = pmul/libpmul.a s5066/libs5066.a util/libutil.a $(LIBM)
TESTS += tests/unit/pmul_interop_test

# ---- when a receiver answers: on the round's last Data_PDU, within a
# window of one Ack_PDU airtime per destination, each node its own draw ----
check_PROGRAMS += tests/unit/pmul_air_test
tests_unit_pmul_air_test_SOURCES = tests/unit/pmul_air_test.c
tests_unit_pmul_air_test_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_pmul_air_test_LDADD = pmul/libpmul.a s5066/libs5066.a util/libutil.a $(LIBM)
TESTS += tests/unit/pmul_air_test

# ---- over UDP with a peer written from libjpmul's conventions, both ways ----
TESTS += tests/integration/pmul_jpmul.sh
EXTRA_DIST += tests/integration/pmul_jpmul.sh tests/integration/pmul_jpmul_peer.py
