/* mule_pcap_tool.c - a test program (not part of any library): turn a MULE
 * payload into CompressedData with mule_cdt_encode(), cut it into ACP 142
 * P_MUL Data_PDUs behind an Address_PDU (common header, Address and Data
 * PDU layouts of ACP 142 5.3; checksum of ACP 142 Annex B-3, as Wireshark's
 * packet-p_mul.c checks it), put each PDU behind the 6-byte client
 * transport header (STANAG 4406 Annex E, application id 0x2000) in an
 * S_UNIDATA_INDICATION on SAP 2 (STANAG 5066 Annex A, s5066_encode), and
 * write the SIS session as a pcap of a loopback TCP stream (Ethernet, IPv4,
 * TCP with real checksums and sequence numbers) for ../shared/oracle.
 *
 * usage: mule_pcap_tool PAYLOAD OUT.pcap PORT [FRAGMENT]
 *   FRAGMENT: bytes of CompressedData per Data_PDU (default 200, so the
 *   example payload takes two Data_PDUs and Wireshark must reassemble)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mule/mule.h"
#include "s5066/s5066.h"

#define SRC_NODE    0x0a000001u /* P_MUL Source_ID 10.0.0.1 */
#define DST_NODE    0x0a000002u /* Destination_ID 10.0.0.2 */
#define MSG_ID      4242u
#define CLIENT_PORT 40123

static FILE *pcap;
static uint32_t seq_client = 1000, seq_server = 5000;
static uint32_t ts_usec;

/* sum16 - RFC 1071 one's complement sum over n bytes, continuing sum */
static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    return sum;
}

/* fold - finish an RFC 1071 checksum */
static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* put16 - store big-endian */
static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* put32 - store big-endian */
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

/* le32 - store little-endian (pcap headers in host order, written as LE) */
static void le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* segment - write one Ethernet/IPv4/TCP frame; from_server picks the direction */
static void segment(int from_server, uint8_t flags, const uint8_t *data, size_t n, uint16_t port)
{
    uint8_t f[14 + 20 + 20 + 70000];
    memset(f, 0, 54);
    /* Ethernet: loopback has zero MACs; type IPv4 */
    f[12] = 0x08;
    uint8_t *ip = f + 14, *tcp = f + 34;
    ip[0] = 0x45;
    put16(ip + 2, (uint32_t)(40 + n));
    put16(ip + 4, seq_client & 0xffff);
    ip[6] = 0x40; /* DF */
    ip[8] = 64;
    ip[9] = 6;
    put32(ip + 12, 0x7f000001);
    put32(ip + 16, 0x7f000001);
    put16(ip + 10, fold(sum16(0, ip, 20)));
    uint32_t *my = from_server ? &seq_server : &seq_client;
    uint32_t *peer = from_server ? &seq_client : &seq_server;
    put16(tcp, from_server ? port : CLIENT_PORT);
    put16(tcp + 2, from_server ? CLIENT_PORT : port);
    put32(tcp + 4, *my);
    put32(tcp + 8, (flags & 0x10) ? *peer : 0);
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    put16(tcp + 14, 65535);
    if (n)
        memcpy(tcp + 20, data, n);
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = 6;
    put16(pseudo + 10, (uint32_t)(20 + n));
    put16(tcp + 16, fold(sum16(sum16(0, pseudo, 12), tcp, 20 + n)));
    *my += (uint32_t)n + ((flags & 0x03) ? 1 : 0); /* SYN and FIN take a number */
    uint8_t rec[16];
    ts_usec += 1000;
    le32(rec, 1700000000u + ts_usec / 1000000);
    le32(rec + 4, ts_usec % 1000000);
    le32(rec + 8, (uint32_t)(54 + n));
    le32(rec + 12, (uint32_t)(54 + n));
    fwrite(rec, 1, 16, pcap);
    fwrite(f, 1, 54 + n, pcap);
}

/* pmul_checksum - ACP 142 Annex B-3 over the PDU with bytes 6-7 zeroed */
static uint16_t pmul_checksum(uint8_t *pdu, size_t len)
{
    pdu[6] = pdu[7] = 0;
    long c0 = 0, c1 = 0;
    for (size_t i = 0; i < len; i++) {
        c0 = (c0 + pdu[i]) % 255;
        c1 = (c1 + c0) % 255;
    }
    long k = (long)len - 6 - 1;
    long x = ((k * c0) - c1) % 255;
    if (x < 0)
        x += 255;
    long y = (c1 - (k + 1) * c0) % 255;
    if (y < 0)
        y += 255;
    return (uint16_t)(x << 8 | y);
}

/* send_pdu - a P_MUL PDU as an S_UNIDATA_INDICATION from the server */
static int send_pdu(const uint8_t *pdu, size_t len, uint8_t updu_id, uint16_t port)
{
    uint8_t updu[4096];
    struct s5066_client_hdr h = {0, 0, updu_id, 0, S5066_APP_ID_ACP142};
    if (s5066_client_hdr_encode(&h, updu, sizeof updu) != S5066_CLIENT_HDR_LEN ||
        len + S5066_CLIENT_HDR_LEN > sizeof updu)
        return -1;
    memcpy(updu + S5066_CLIENT_HDR_LEN, pdu, len);
    struct s5066_prim p;
    s5066_prim_init(&p, S5066_UNIDATA_INDICATION);
    p.u.ind.priority = 9;
    p.u.ind.dest_sap = 2;
    p.u.ind.dest = s5066_addr_make(0x10, true); /* group 16.0.0.16 */
    p.u.ind.tx_mode = S5066_TX_NON_ARQ;
    p.u.ind.src_sap = 2;
    p.u.ind.src = s5066_addr_make(1, false);
    p.u.ind.updu = updu;
    p.u.ind.updu_len = len + S5066_CLIENT_HDR_LEN;
    uint8_t wire[5000];
    int n = s5066_encode(&p, wire, sizeof wire);
    if (n < 0)
        return -1;
    segment(1, 0x18, wire, (size_t)n, port);
    segment(0, 0x10, NULL, 0, port);
    return 0;
}

/* main - payload in, pcap out */
int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s PAYLOAD OUT.pcap PORT [FRAGMENT]\n", argv[0]);
        return 2;
    }
    uint16_t port = (uint16_t)atoi(argv[3]);
    size_t frag = argc > 4 ? (size_t)atoi(argv[4]) : 200;
    if (frag < 1 || frag > 2000)
        frag = 200;
    FILE *in = fopen(argv[1], "rb");
    if (!in) {
        perror(argv[1]);
        return 1;
    }
    static uint8_t payload[1 << 20];
    size_t plen = fread(payload, 1, sizeof payload, in);
    fclose(in);
    struct util_buf cdt;
    util_buf_init(&cdt, 0);
    if (mule_cdt_encode(payload, plen, 9, &cdt) < 0) {
        fprintf(stderr, "mule_cdt_encode failed\n");
        return 1;
    }
    pcap = fopen(argv[2], "wb");
    if (!pcap) {
        perror(argv[2]);
        return 1;
    }
    uint8_t gh[24];
    le32(gh, 0xa1b2c3d4);
    gh[4] = 2, gh[5] = 0, gh[6] = 4, gh[7] = 0; /* version 2.4 */
    le32(gh + 8, 0);
    le32(gh + 12, 0);
    le32(gh + 16, 65535);
    le32(gh + 20, 1); /* DLT_EN10MB */
    fwrite(gh, 1, 24, pcap);

    /* TCP handshake, then the client binds SAP 2 */
    segment(0, 0x02, NULL, 0, port);
    segment(1, 0x12, NULL, 0, port);
    segment(0, 0x10, NULL, 0, port);
    uint8_t wire[64];
    struct s5066_prim p;
    s5066_prim_init(&p, S5066_BIND_REQUEST);
    p.u.bind_request.sap = 2;
    p.u.bind_request.rank = 0;
    p.u.bind_request.service.tx_mode = S5066_TX_NON_ARQ;
    int n = s5066_encode(&p, wire, sizeof wire);
    segment(0, 0x18, wire, (size_t)n, port);
    s5066_prim_init(&p, S5066_BIND_ACCEPTED);
    p.u.bind_accepted.sap = 2;
    p.u.bind_accepted.mtu = 2048;
    n = s5066_encode(&p, wire, sizeof wire);
    segment(1, 0x18, wire, (size_t)n, port);
    segment(0, 0x10, NULL, 0, port);

    /* Address_PDU: header, Expiry_Time, one destination entry */
    size_t n_data = (cdt.len + frag - 1) / frag;
    uint8_t pdu[2100];
    memset(pdu, 0, 32);
    put16(pdu, 32);
    pdu[2] = 6;    /* P_MUL priority */
    pdu[3] = 0x02; /* MAP 00 (only Address_PDU), type 2 */
    put16(pdu + 4, (uint32_t)n_data);
    put32(pdu + 8, SRC_NODE);
    put32(pdu + 12, MSG_ID);
    put32(pdu + 16, 1700086400u); /* Expiry_Time */
    put16(pdu + 20, 1);           /* count of destinations */
    put16(pdu + 22, 0);           /* reserved length */
    put32(pdu + 24, DST_NODE);
    put32(pdu + 28, 1); /* Message_Sequence_Number */
    put16(pdu + 6, pmul_checksum(pdu, 32));
    if (send_pdu(pdu, 32, 0, port) < 0)
        return 1;
    for (size_t i = 0; i < n_data; i++) {
        size_t off = i * frag, len = cdt.len - off < frag ? cdt.len - off : frag;
        put16(pdu, (uint32_t)(16 + len));
        pdu[2] = 6;
        pdu[3] = 0x00; /* Data_PDU */
        put16(pdu + 4, (uint32_t)(i + 1));
        put32(pdu + 8, SRC_NODE);
        put32(pdu + 12, MSG_ID);
        memcpy(pdu + 16, cdt.data + off, len);
        put16(pdu + 6, pmul_checksum(pdu, 16 + len));
        if (send_pdu(pdu, 16 + len, (uint8_t)(i + 1), port) < 0)
            return 1;
    }
    /* orderly close */
    segment(0, 0x11, NULL, 0, port);
    segment(1, 0x11, NULL, 0, port);
    segment(0, 0x10, NULL, 0, port);
    fclose(pcap);
    printf("cdt %zu bytes in %zu Data_PDUs, payload %zu bytes\n", cdt.len, n_data, plen);
    util_buf_free(&cdt);
    return 0;
}
