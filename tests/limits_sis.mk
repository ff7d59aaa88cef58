# tests/limits_sis.mk - issue 13: bounded memory and fair intake (sis)
