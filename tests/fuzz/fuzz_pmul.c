/* fuzz_pmul.c - fuzz target for the ACP 142 P_MUL PDU codec (pmul/pdu.c:
 * the PDU formats and the Annex B-3 / RFC 1071 checksums).
 *
 * Decodes the input twice: as it is (checksum enforced) and with
 * PMUL_DEC_NO_CHECKSUM so that mutated inputs reach the body decoders.
 * Whatever decodes is walked with every accessor, re-encoded from its raw
 * form and from typed arrays rebuilt with the accessors, and decoded again;
 * any disagreement abort()s.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pmul/pmul.h"

/* check - abort unless cond */
static void check(bool cond)
{
    if (!cond)
        abort();
}

/* walk - touch every accessor of a decoded PDU */
static void walk(const struct pmul_pdu *p)
{
    volatile uint32_t sink = 0;
    if (p->type == PMUL_ADDRESS) {
        for (size_t i = 0; i < p->u.address.count; i++) {
            struct pmul_dest d;
            check(pmul_address_dest(p, i, &d) == 0);
            sink += d.dest_id + d.msn;
            for (size_t k = 0; k < p->u.address.reserved_len; k++)
                sink += d.reserved[k];
        }
    } else if (p->type == PMUL_ANNOUNCE) {
        for (size_t i = 0; i < p->u.announce.count; i++)
            sink += pmul_announce_dest(p, i);
    } else if (p->type == PMUL_ACK) {
        struct pmul_ack_iter it;
        struct pmul_ack_entry e;
        size_t n = 0;
        pmul_ack_iter_init(&it, p);
        while (pmul_ack_iter_next(&it, &e)) {
            n++;
            struct pmul_missing_iter mi;
            uint16_t seq, lo, hi;
            /* numbers clipped to a small message, as a receiver would */
            size_t count = pmul_missing_count(&e, 64), seen = 0;
            pmul_missing_init(&mi, &e, 64);
            while (pmul_missing_next(&mi, &seq)) {
                check(seq >= 1 && seq <= 64);
                seen++;
            }
            check(seen == count);
            pmul_missing_init(&mi, &e, 0xFFFF);
            while (pmul_missing_next_range(&mi, &lo, &hi))
                check(lo >= 1 && lo <= hi);
            check(pmul_ack_entry_len(&e) == 10 + 2 * e.missing_words);
        }
        check(n == p->u.ack.count);
    }
    (void)sink;
}

/* reencode - encode p, decode the bytes, compare; returns the encoded length */
static int reencode(const struct pmul_pdu *p, uint8_t *buf, size_t cap)
{
    int n = pmul_encode(p, buf, cap);
    check(n > 0);
    check(n == pmul_encoded_len(p));
    struct pmul_pdu q;
    check(pmul_decode(buf, (size_t)n, &q) == n);
    check(q.cksum_kind == PMUL_CKSUM_ACP142);
    check(pmul_pdu_equal(p, &q));
    walk(&q);
    return n;
}

/* typed_copy - encode p again from typed arrays rebuilt with the accessors */
static void typed_copy(const struct pmul_pdu *p, uint8_t *buf, size_t cap)
{
    struct pmul_pdu t = *p;
    void *mem = NULL;
    if (p->type == PMUL_ADDRESS) {
        struct pmul_dest *d = calloc(p->u.address.count + 1, sizeof *d);
        check(d != NULL);
        for (size_t i = 0; i < p->u.address.count; i++)
            check(pmul_address_dest(p, i, &d[i]) == 0);
        t.u.address.dests = d;
        t.u.address.raw = NULL;
        mem = d;
    } else if (p->type == PMUL_ANNOUNCE) {
        uint32_t *ids = calloc(p->u.announce.count + 1, sizeof *ids);
        check(ids != NULL);
        for (size_t i = 0; i < p->u.announce.count; i++)
            ids[i] = pmul_announce_dest(p, i);
        t.u.announce.dest_ids = ids;
        t.u.announce.raw = NULL;
        mem = ids;
    } else if (p->type == PMUL_ACK) {
        /* every entry as ranges: at most one range per raw word */
        size_t words = p->u.ack.raw_len / 2 + 1;
        struct pmul_ack_entry *es = calloc(p->u.ack.count + 1, sizeof *es);
        struct pmul_range *rs = calloc(words, sizeof *rs);
        check(es && rs);
        struct pmul_ack_iter it;
        size_t i = 0, used = 0;
        pmul_ack_iter_init(&it, p);
        struct pmul_ack_entry e;
        while (pmul_ack_iter_next(&it, &e)) {
            struct pmul_missing_iter mi;
            uint16_t lo, hi;
            check(i < p->u.ack.count);
            es[i] = e;
            es[i].ranges = rs + used;
            es[i].nranges = 0;
            pmul_missing_init(&mi, &e, 0xFFFF);
            while (pmul_missing_next_range(&mi, &lo, &hi)) {
                check(used < words);
                rs[used].lo = lo;
                rs[used].hi = hi;
                used++;
                es[i].nranges++;
            }
            es[i].raw = NULL;
            es[i].missing_words = 0;
            i++;
        }
        check(i == p->u.ack.count);
        t.u.ack.entries = es;
        t.u.ack.raw = NULL;
        t.u.ack.raw_len = 0;
        int n = pmul_encode(&t, buf, cap);
        check(n > 0);
        struct pmul_pdu q;
        check(pmul_decode(buf, (size_t)n, &q) == n);
        check(pmul_pdu_equal(&t, &q) && pmul_pdu_equal(p, &q));
        free(rs);
        free(es);
        return;
    } else {
        return;
    }
    reencode(&t, buf, cap);
    free(mem);
}

/* LLVMFuzzerTestOneInput - decode, walk, re-encode, decode again, compare */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[PMUL_MAX_LEN];
    struct pmul_pdu p;

    int strict = pmul_decode(data, size, &p);
    for (int pass = 0; pass < 2; pass++) {
        int rc = pass == 0 ? strict : pmul_decode_ex(data, size, PMUL_DEC_NO_CHECKSUM, &p);
        if (rc == PMUL_ERR_UNSUPPORTED) {
            check(pmul_encode(&p, buf, sizeof buf) < 0);
            continue;
        }
        if (rc < 0)
            continue;
        check((size_t)rc == size && p.length == size);
        if (pass == 0)
            check(p.cksum_kind == PMUL_CKSUM_ACP142 || p.cksum_kind == PMUL_CKSUM_RFC1071);
        walk(&p);
        int n = reencode(&p, buf, sizeof buf);
        check((size_t)n == size);
        /* same bytes but the checksum and the fields the decoder ignores
         * (X in Ack/Discard/Request/Reject/Release) */
        check(memcmp(buf, data, 4) == 0 && memcmp(buf + 8, data + 8, size - 8) == 0);
        typed_copy(&p, buf, sizeof buf);
        if (p.type == PMUL_ADDRESS) {
            /* split the list as if the MTU were small */
            size_t room = PMUL_ADDRESS_HDR_LEN + 2 * (PMUL_DEST_LEN + p.u.address.reserved_len);
            int parts = pmul_address_parts(p.u.address.count, room, p.u.address.reserved_len);
            check(parts >= 1);
            size_t total = 0;
            for (int k = 0; k < parts; k++) {
                struct pmul_pdu part;
                check(pmul_address_split(&p, room, (size_t)k, &part) == 0);
                int m = reencode(&part, buf, sizeof buf);
                check((size_t)m <= room || room > PMUL_MAX_LEN);
                total += part.u.address.count;
            }
            check(total == p.u.address.count);
        }
    }
    return 0;
}
