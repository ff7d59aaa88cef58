# tests/limits_pmul.mk - issue 13: bounded memory and fair intake (pmul)
