# pmul/local.mk - ACP 142 P_MUL: PDU codec (the engines and bearers add theirs)
noinst_LIBRARIES += pmul/libpmul.a
pmul_libpmul_a_SOURCES = pmul/pmul.h pmul/pdu.c
