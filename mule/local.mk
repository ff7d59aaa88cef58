# mule/local.mk - the mail side of MULE (RFC 8494): payload, CompressedData,
# routing, priority/expiry, trace, DSNs.  No I/O; depends on util and zlib.
noinst_LIBRARIES += mule/libmule.a
mule_libmule_a_SOURCES = mule/mule.h mule/payload.c mule/cdt.c mule/route.c mule/prio.c \
	mule/trace.c mule/dsn.c
mule_libmule_a_CPPFLAGS = $(AM_CPPFLAGS) $(ZLIB_CFLAGS)
