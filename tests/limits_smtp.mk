# tests/limits_smtp.mk - issue 13: bounded memory and fair intake (smtp)
