# tests/cli.mk - every program answers --help and --version as GNU programs do
