# tests/wire.mk - the wire judge (tests/wire/): Wireshark's dissectors through tshark judge our SIS, P_MUL and MULE bytes
# wire_judge.py (its checks in the package tests/wire/judge/) is what the
# integration tests s5066_oracle.sh, pmul_oracle.sh, mule_oracle.sh and
# sim_oracle.sh (tests/integration/local.mk) run over their captures;
# selftest.sh checks the judge itself on pcaps built by selftest.py
# (golden bytes from tests/data/pmul and tests/data/mule, distributed by
# tests/pmul.mk and tests/mule.mk).
TESTS += tests/wire/selftest.sh
EXTRA_DIST += tests/wire/wire_judge.py tests/wire/selftest.py tests/wire/selftest.sh
# the judge's modules (tests/wire/judge/__init__.py names them)
EXTRA_DIST += tests/wire/judge/__init__.py tests/wire/judge/core.py \
	tests/wire/judge/common.py tests/wire/judge/tshark.py tests/wire/judge/sis.py \
	tests/wire/judge/pmul.py tests/wire/judge/cdt.py tests/wire/judge/dts.py
