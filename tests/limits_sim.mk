# tests/limits_sim.mk - issue 13: bounded memory and fair intake (sim)
