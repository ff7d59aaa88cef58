# tests/wire.mk - the wire judge (tests/wire/): Wireshark's dissectors through tshark judge our SIS, P_MUL and MULE bytes
