# tests/integration/local.mk - integration scripts (exit 0 pass, 77 skip)
EXTRA_DIST += tests/integration/lib.sh
# (integration tests arrive with the programs)

