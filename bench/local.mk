# bench/local.mk - benchmark programs (built by make check's programs, run by hand)
check_PROGRAMS += bench/mule_compress
bench_mule_compress_SOURCES = bench/mule_compress.c
bench_mule_compress_LDADD = mule/libmule.a util/libutil.a $(ZLIB_LIBS)
EXTRA_DIST += bench/airtime.sh bench/bench_lib.sh bench/rss_bench.sh bench/smtp_bench.sh
