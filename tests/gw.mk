# tests/gw.mk - the gateway's exactly-once tests: integration scenarios over
# s5066sim with several gateways and independent LAN sinks (issue 12)
