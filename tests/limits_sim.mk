# tests/limits_sim.mk - issue 13: bounded memory and fair intake (sim)

# s5066sim serves a bind while hundreds of idle connections are open: the
# oldest idle connection of the address (max_clients_per_address) or of the
# node (max_clients) is closed to make room
TESTS += tests/integration/sim_idle_flood.sh
EXTRA_DIST += tests/integration/sim_idle_flood.sh
