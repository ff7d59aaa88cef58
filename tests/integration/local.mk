# tests/integration/local.mk - integration scripts (exit 0 pass, 77 skip)
EXTRA_DIST += tests/integration/lib.sh
TESTS += tests/integration/config_errors.sh
EXTRA_DIST += tests/integration/config_errors.sh
