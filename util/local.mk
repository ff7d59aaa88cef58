# util/local.mk - the util convenience library
noinst_LIBRARIES += util/libutil.a
util_libutil_a_SOURCES = util/util.h util/buf.c util/log.c util/conf.c util/time.c util/fsync.c \
	util/cli.c util/ratelimit.c
