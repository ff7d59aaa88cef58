# s5066/local.mk - STANAG 5066 SIS: codec, client engine, link glue, tools
noinst_LIBRARIES += s5066/libs5066.a
s5066_libs5066_a_SOURCES = s5066/s5066.h s5066/sis_codec.c
s5066_libs5066_a_SOURCES += s5066/client.c
