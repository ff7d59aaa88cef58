# pmul/local.mk - ACP 142 P_MUL: PDU codec (the engines and bearers add theirs)
noinst_LIBRARIES += pmul/libpmul.a
pmul_libpmul_a_SOURCES = pmul/pmul.h pmul/pdu.c

# the protocol engine: core (parameters, timers, the pump, the API), transmitter,
# receiver and the receiver's originators (limits, sequence gaps)
pmul_libpmul_a_SOURCES += pmul/engine_priv.h pmul/engine.c pmul/engine_tx.c pmul/engine_rx.c \
	pmul/engine_src.c

# bearers (SIS through s5066, UDP multicast) and pmulcat
pmul_libpmul_a_SOURCES += pmul/bearer.c
bin_PROGRAMS += pmul/pmulcat
pmul_pmulcat_SOURCES = pmul/pmulcat.c
pmul_pmulcat_LDADD = pmul/libpmul.a s5066/libs5066.a util/libutil.a $(EV_LIBS) $(SERIALPORT_LIBS) $(LIBM)
dist_noinst_DATA += conf/pmulcat-sis.conf conf/pmulcat-udp.conf
