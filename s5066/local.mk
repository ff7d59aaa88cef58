# s5066/local.mk - STANAG 5066 SIS: codec, client engine, link glue, tools
noinst_LIBRARIES += s5066/libs5066.a
s5066_libs5066_a_SOURCES = s5066/s5066.h s5066/sis_codec.c
s5066_libs5066_a_SOURCES += s5066/client.c
s5066_libs5066_a_SOURCES += s5066/serial.c s5066/link.c
s5066_libs5066_a_CPPFLAGS = $(AM_CPPFLAGS) $(SERIALPORT_CFLAGS)

bin_PROGRAMS += s5066/s5066cat
s5066_s5066cat_SOURCES = s5066/s5066cat.c
s5066_s5066cat_LDADD = s5066/libs5066.a util/libutil.a $(EV_LIBS) $(SERIALPORT_LIBS) $(LIBM)

# s5066sim: the channel model and the per-node SIS server engine live in the
# library (the P_MUL tests drive them in virtual time); the glue is the program.
s5066_libs5066_a_SOURCES += s5066/channel.c s5066/sim_node.c
bin_PROGRAMS += s5066/s5066sim
s5066_s5066sim_SOURCES = s5066/s5066sim.c
s5066_s5066sim_LDADD = s5066/libs5066.a util/libutil.a $(EV_LIBS) $(SERIALPORT_LIBS) $(LIBM)
dist_noinst_DATA += conf/s5066sim.conf
