/* mule_prio_test.c - priority and expiry (mule/prio.c): MT-PRIORITY (RFC
 * 6710) -> P_MUL 6 - x clamped -> SIS by table; DELIVERBY (RFC 2852) with
 * R, N and the T trace modifier -> Expiry_Time and a delay-notice time;
 * lifetimes per priority from the config; BY rewriting for a relay.  The
 * whole mapping table is compared with a golden file.
 */
#include "harness.h"
#include "mule/mule.h"
#include "mule_golden.h"

TEST(mt_priority_parses)
{
    int x;
    CHECK_EQ(mule_mt_priority("BODY=8BITMIME", &x), 0);
    CHECK_EQ(x, 0);
    CHECK_EQ(mule_mt_priority(NULL, &x), 0);
    CHECK_EQ(x, 0);
    CHECK_EQ(mule_mt_priority("MT-PRIORITY=4 BODY=8BITMIME", &x), 0);
    CHECK_EQ(x, 4);
    CHECK_EQ(mule_mt_priority("mt-priority=-9", &x), 0);
    CHECK_EQ(x, -9);
    CHECK_EQ(mule_mt_priority("MT-PRIORITY=+3", &x), 0);
    CHECK_EQ(x, 3);
    static const char *const bad[] = {"MT-PRIORITY=10", "MT-PRIORITY=",    "MT-PRIORITY",
                                      "MT-PRIORITY=x",  "MT-PRIORITY=--1", "MT-PRIORITY=-"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++)
        CHECK_EQ(mule_mt_priority(bad[i], &x), MULE_ERR_BAD_PARAM);
}

TEST(mapping_table_matches_golden)
{
    struct mule_prio p;
    mule_prio_defaults(&p);
    struct util_buf b;
    util_buf_init(&b, 0);
    util_buf_printf(&b, "# MT-PRIORITY -> P_MUL priority -> SIS priority, default lifetime (s)\n");
    for (int x = -9; x <= 9; x++) {
        int pm = mule_pmul_priority(x);
        util_buf_printf(&b, "%d %d %d %u\n", x, pm, mule_sis_priority(&p, pm),
                        (unsigned)p.lifetime[pm]);
    }
    CHECK(golden_check("priority_map.txt", b.data, b.len));
    util_buf_free(&b);
    CHECK_EQ(mule_pmul_priority(0), 6);
    CHECK_EQ(mule_pmul_priority(6), 0);
    CHECK_EQ(mule_pmul_priority(9), 0); /* clamped */
    CHECK_EQ(mule_pmul_priority(-9), 15);
    CHECK_EQ(mule_pmul_priority(-20), 15);
    CHECK_EQ(mule_sis_priority(&p, 0), 15);
    CHECK_EQ(mule_sis_priority(&p, 6), 9);
    CHECK_EQ(mule_sis_priority(&p, 99), 0);
}

TEST(wire_priorities_0_to_255_use_the_table_clamped)
{
    /* ACP 142 allows P_MUL Priority 0..255; the tables have 0..15, and
     * anything above 15 is the least urgent entry, 15 */
    struct mule_prio p;
    mule_prio_defaults(&p);
    for (int i = 0; i <= MULE_PMUL_PRIO_MAX; i++) { /* distinct values, to see which is read */
        p.sis[i] = (uint8_t)(15 - i);
        p.lifetime[i] = 1000u + (uint32_t)i;
    }
    static const struct {
        unsigned prio, index;
    } cases[] = {{0, 0}, {15, 15}, {16, 15}, {200, 15}, {255, 15}};
    for (size_t k = 0; k < UTIL_ARRAY_LEN(cases); k++) {
        CHECK_EQ(mule_prio_sis(&p, cases[k].prio), p.sis[cases[k].index]);
        CHECK_EQ(mule_prio_lifetime(&p, cases[k].prio), p.lifetime[cases[k].index]);
    }
    CHECK_EQ(mule_prio_sis(&p, 200), 0);
    CHECK_EQ(mule_prio_lifetime(&p, 255), 1015);
    CHECK_EQ(mule_prio_lifetime(&p, 6), 1006);
    /* beyond a byte as well (a caller's int): still the last entry */
    CHECK_EQ(mule_prio_sis(&p, 70000u), 0);
    CHECK_EQ(mule_prio_lifetime(&p, 70000u), 1015);
    /* every byte value maps into the table */
    for (unsigned v = 0; v <= 255; v++) {
        unsigned i = v > MULE_PMUL_PRIO_MAX ? MULE_PMUL_PRIO_MAX : v;
        CHECK_EQ(mule_prio_sis(&p, v), p.sis[i]);
        CHECK_EQ(mule_prio_lifetime(&p, v), p.lifetime[i]);
    }
}

TEST(table_and_lifetimes_from_config)
{
    static const char text[] = "[priority]\n"
                               "lifetime = 2h\n"
                               "lifetime.0 = 10m\n"
                               "sis.0 = 12\n"
                               "sis.15 = 1\n";
    int rc;
    char err[256];
    struct util_conf *conf = util_conf_parse("p.conf", text, sizeof text - 1, err, sizeof err, &rc);
    CHECK(conf != NULL);
    struct mule_prio p;
    CHECK_EQ(mule_prio_load(conf, &p), 0);
    CHECK_EQ(util_conf_check_unused(conf), 0);
    CHECK_EQ(p.lifetime[0], 600);
    CHECK_EQ(p.lifetime[1], 7200);
    CHECK_EQ(p.lifetime[15], 7200);
    CHECK_EQ(p.sis[0], 12);
    CHECK_EQ(p.sis[1], 14);
    CHECK_EQ(p.sis[15], 1);
    util_conf_free(conf);
    static const char bad[] = "[priority]\n\nsis.3 = 16\n";
    conf = util_conf_parse("p.conf", bad, sizeof bad - 1, err, sizeof err, &rc);
    CHECK(mule_prio_load(conf, &p) < 0);
    CHECK_CONTAINS(util_conf_error(conf), "p.conf:3: [priority] key 'sis.3'");
    util_conf_free(conf);
    static const char bad2[] = "[priority]\nlifetime.16 = 1h\n";
    conf = util_conf_parse("p.conf", bad2, sizeof bad2 - 1, err, sizeof err, &rc);
    CHECK_EQ(mule_prio_load(conf, &p), 0);
    CHECK(util_conf_check_unused(conf) < 0);
    CHECK_CONTAINS(util_conf_error(conf), "p.conf:2");
    util_conf_free(conf);
    /* no [priority] section: the defaults */
    conf = util_conf_parse("p.conf", "", 0, err, sizeof err, &rc);
    CHECK_EQ(mule_prio_load(conf, &p), 0);
    CHECK_EQ(p.lifetime[6], 86400);
    util_conf_free(conf);
}

TEST(deliverby_parses)
{
    struct mule_deliverby by;
    CHECK_EQ(mule_deliverby_parse("BODY=7BIT", &by), 0);
    CHECK(!by.present);
    CHECK_EQ(mule_deliverby_parse("BY=120;R", &by), 0);
    CHECK(by.present && by.by == 120 && by.mode == 'R' && !by.trace);
    CHECK_EQ(mule_deliverby_parse("RET=FULL BY=-30;NT", &by), 0);
    CHECK(by.present && by.by == -30 && by.mode == 'N' && by.trace);
    CHECK_EQ(mule_deliverby_parse("BY=+999999999;RT", &by), 0);
    CHECK(by.by == 999999999 && by.trace);
    static const char *const bad[] = {"BY=0;R", "BY=-5;R",  "BY=1234567890;R", "BY=5;X", "BY=5",
                                      "BY=;R",  "BY=5;RTT", "BY=5;;R",         "BY=a;N", "BY"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        CHECK_EQ(mule_deliverby_parse(bad[i], &by), MULE_ERR_BAD_PARAM);
        CHECK(!by.present);
    }
}

TEST(expiry_from_priority_and_deliverby)
{
    struct mule_prio p;
    mule_prio_defaults(&p);
    struct mule_expiry e;
    const int64_t t0 = 1700000000;
    CHECK_EQ(mule_expiry_compute(&p, "", t0, &e), 0);
    CHECK_EQ(e.pmul_priority, 6);
    CHECK_EQ(e.sis_priority, 9);
    CHECK_EQ(e.expiry, t0 + 86400);
    CHECK_EQ(e.notify_at, 0);
    CHECK(e.return_on_expiry && !e.trace);
    CHECK_EQ(mule_expiry_compute(&p, "MT-PRIORITY=6 BY=600;R", t0, &e), 0);
    CHECK_EQ(e.pmul_priority, 0);
    CHECK_EQ(e.sis_priority, 15);
    CHECK_EQ(e.expiry, t0 + 600);
    CHECK_EQ(e.notify_at, 0);
    CHECK_EQ(mule_expiry_compute(&p, "MT-PRIORITY=-4 BY=600;N", t0, &e), 0);
    CHECK_EQ(e.pmul_priority, 10);
    CHECK_EQ(e.expiry, t0 + 72 * 3600);
    CHECK_EQ(e.notify_at, t0 + 600);
    CHECK_EQ(mule_expiry_compute(&p, "BY=-10;NT", t0, &e), 0);
    CHECK_EQ(e.notify_at, t0 - 10);
    CHECK(e.trace);
    CHECK_EQ(mule_expiry_compute(&p, "BY=0;R", t0, &e), MULE_ERR_BAD_PARAM);
    CHECK_EQ(mule_expiry_compute(&p, "MT-PRIORITY=12", t0, &e), MULE_ERR_BAD_PARAM);
}

TEST(deliverby_rewritten_for_a_relay)
{
    char out[128];
    CHECK_EQ(mule_deliverby_rewrite("BODY=8BITMIME BY=600;RT SMTPUTF8", 100, out, sizeof out), 32);
    CHECK_STR(out, "BODY=8BITMIME BY=500;RT SMTPUTF8");
    CHECK_EQ(mule_deliverby_rewrite("BY=600;N", 700, out, sizeof out), 9);
    CHECK_STR(out, "BY=-100;N");
    CHECK_EQ(mule_deliverby_rewrite("BY=600;R", 600, out, sizeof out), MULE_ERR_EXPIRED);
    CHECK_EQ(mule_deliverby_rewrite("RET=HDRS", 600, out, sizeof out), 8);
    CHECK_STR(out, "RET=HDRS");
    CHECK_EQ(mule_deliverby_rewrite(NULL, 1, out, sizeof out), 0);
    CHECK_EQ(mule_deliverby_rewrite("BY=600;Q", 1, out, sizeof out), MULE_ERR_BAD_PARAM);
    CHECK_EQ(mule_deliverby_rewrite("BY=600;R", 1, out, 5), UTIL_ERR_OVERFLOW);
}

/* main - run the priority tests */
int main(void)
{
    RUN(mt_priority_parses);
    RUN(mapping_table_matches_golden);
    RUN(wire_priorities_0_to_255_use_the_table_clamped);
    RUN(table_and_lifetimes_from_config);
    RUN(deliverby_parses);
    RUN(expiry_from_priority_and_deliverby);
    RUN(deliverby_rewritten_for_a_relay);
    return harness_done();
}
