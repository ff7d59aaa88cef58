# tests/cli.mk - every program answers --help and --version as GNU programs do
# --help/-h, --version/-V and an unknown option for every installed program
# (against its manual page's OPTIONS), and mulegw's start-up errors on
# stderr without -f
TESTS += tests/integration/cli_options.sh
EXTRA_DIST += tests/integration/cli_options.sh
