# tests/limits_sis.mk - issue 13: bounded memory and fair intake (sis)

# a hostile 5066 server floods mulegw with mutated SIS primitives: bounded
# memory and rate-limited warnings; afterwards it binds and carries mail
TESTS += tests/integration/sis_flood_gw.sh
EXTRA_DIST += tests/integration/sis_flood_gw.sh
