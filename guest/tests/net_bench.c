/* net-bench (on request only): a polling virtio-net load generator for host-measured benchmarks
 * (benchmarks/run-net.sh). The host counts what crosses its tap; the guest keeps the rings full
 * with as few instructions per frame as it can (under PVM every guest instruction is emulated).
 *
 * Phases, run in order in one boot: `bench.phases=tx:64,tx:1514,tx:65536,rx:64,rx:1514` (or one
 * phase from `bench.dir=tx|rx` and `bench.size=N`). Sizes are Ethernet frame lengths without FCS.
 * Every phase re-initialises the device, prints
 *   BENCH-START phase=I dir=tx size=N slots=S features=...
 * runs until one byte arrives on COM1 (the host's "stop", checked every 256 loop iterations; at
 * most bench.wait seconds, default 120), then prints
 *   BENCH-END phase=I dir=tx size=N frames=F bytes=B kicks=K batches=A bad=E tsc_cycles=C
 *
 * tx: queue-size persistent chains of one descriptor each (12-byte virtio-net header + frame,
 * as Linux's can_push layout), all pointing at one prepared frame (the device only reads it).
 * Completions are polled; each batch is made available again at once and the device is notified
 * only when avail_event asks for it (EVENT_IDX, else VRING_USED_F_NO_NOTIFY). Interrupts are
 * suppressed. Frames up to 1514 bytes are UDP net.ip:9 -> net.gw:9 (checksums filled in) to the
 * Ethernet address bench.dstmac (default broadcast); larger ones are one TCP segment of
 * size - 54 payload bytes with a virtio-net header asking for TSO (NEEDS_CSUM, GSO_TCPV4,
 * gso_size bench.mss, default 1448) and the TCP checksum field holding the pseudo-header sum, so
 * the host kernel segments it; they need HOST_TSO4.
 * rx: queue-size receive buffers of 1526 bytes (2 KiB apart), all posted; each batch of used
 * buffers is posted again at once (notify as above) and counted; bytes = frames * size. The
 * used length of the last entry of every batch must be 12 + size, else the batch counts as bad.
 *
 * With bench.inorder=1 (default) a batch is republished by moving avail->idx alone: every head
 * stays in its ring slot, which is right as long as the device uses buffers in the order they
 * were made available (QEMU and jkvm do, for these chains); the last used id of every batch is
 * checked and a mismatch fails the test. bench.inorder=0 copies every used id back into the
 * avail ring instead (any order). Offloads: bench.offload=1 (default) takes CSUM and HOST_TSO4
 * when offered (as Linux does), 0 declines them. Afterwards the device is re-initialised as the
 * other net-* tests expect it. */
#include "tests/test.h"
#include "lib/cmdline.h"
#include "lib/cpu.h"
#include "lib/io.h"
#include "lib/memrange.h"
#include "lib/net.h"
#include "lib/printf.h"
#include "lib/serial.h"
#include "lib/string.h"
#include "lib/tsc.h"
#include "lib/virtio_net.h"

#define NB_MAX_PHASES 8
#define NB_MAX_FRAME 65549u                     /* IPv4 total length 65535 + Ethernet */
#define NB_RX_STRIDE 2048u
#define NB_AREA (1u << 20)                      /* rx buffers, then the tx frame */
#define NB_TX_OFFSET (VIRTQ_MAX_SIZE * NB_RX_STRIDE)
#define NB_PORT 9                               /* discard */
#define IPPROTO_TCP 6
#define TCP_HLEN 20

struct phase {
    bool tx;
    uint32_t size;
};

struct nb_result {
    uint64_t frames, bytes, kicks, batches, bad, cycles, polls;
    bool stopped;           /* the host's stop byte arrived */
    bool order_broken;      /* a used id was not the expected one (bench.inorder=1) */
    bool needs_reset;
};

static uint64_t area;       /* NB_AREA bytes of free RAM, taken once */

static uint64_t get_num(const char *key, uint64_t dflt)
{
    uint64_t v;
    return cmdline_get_u64(key, &v) ? v : dflt;
}

static bool parse_phase(const char *s, struct phase *p)
{
    if (strncmp(s, "tx:", 3) == 0)
        p->tx = true;
    else if (strncmp(s, "rx:", 3) == 0)
        p->tx = false;
    else
        return false;
    uint64_t v = 0;
    s += 3;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > NB_MAX_FRAME)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    p->size = (uint32_t)v;
    return true;
}

static inline volatile uint16_t *avail_event(struct virtq *vq) { return (volatile uint16_t *)&vq->used->ring[vq->size]; }

/* The host's stop: one byte on COM1 (consumed). */
static inline bool stop_requested(void)
{
    if (!(inb(COM1 + UART_LSR) & LSR_DR))
        return false;
    (void)inb(COM1 + UART_RBR);
    return true;
}

/* The common loop of both directions: every used entry goes straight back to the avail ring. */
static void pump(struct virtio_dev *d, unsigned q, bool inorder, uint32_t want_len, uint64_t wait_ms, struct nb_result *res)
{
    bool use_pause = get_num("bench.pause", 1) != 0;
    struct virtq *vq = &d->vq[q];
    uint16_t mask = (uint16_t)(vq->size - 1);
    uint64_t deadline = rdtsc() + wait_ms * TSC_MAX_PER_MS;
    uint64_t frames = 0, batches = 0, bad = 0;
    uint64_t t0 = rdtsc();
    if (virtq_kick_prepare(d, q))
        virtq_notify(d, q);
    unsigned it = 1;
    for (;; it++) {
        uint16_t used = vq->used->idx;
        uint16_t k = (uint16_t)(used - vq->last_used);
        if (k) {
            barrier();      /* entries after the index (x86 keeps loads in order) */
            volatile struct virtq_used_elem *last = &vq->used->ring[(uint16_t)(used - 1) & mask];
            if (want_len && last->len != want_len)
                bad++;
            if (inorder) {
                if (last->id != ((uint16_t)(used - 1) & mask)) {
                    res->order_broken = true;
                    break;
                }
                vq->avail_idx = (uint16_t)(vq->avail_idx + k);
            } else {
                for (uint16_t i = vq->last_used; i != used; i++)
                    vq->avail->ring[vq->avail_idx++ & mask] = (uint16_t)vq->used->ring[i & mask].id;
                barrier();
            }
            vq->avail->idx = vq->avail_idx;
            vq->last_used = used;
            vq->num_added = (uint16_t)(vq->num_added + k);
            frames += k;
            batches++;
            if (virtq_kick_prepare(d, q))
                virtq_notify(d, q);
        } else if (use_pause) {
            cpu_pause();
        }
        if ((it & 255) == 0) {
            if (stop_requested()) {
                res->stopped = true;
                break;
            }
            if ((it & 0xffff) == 0 && (virtio_needs_reset(d) || tsc_passed(deadline))) {
                res->needs_reset = virtio_needs_reset(d);
                break;
            }
        }
    }
    res->cycles = rdtsc() - t0;
    res->polls = it;
    res->frames = frames;
    res->batches = batches;
    res->bad = bad;
    res->kicks = vq->kicks;
}

/* UDP (size <= 1514) or a TSO-sized TCP segment, with its virtio-net header, at buf. */
static bool build_tx_frame(struct vnet *n, uint8_t *buf, uint32_t size, const uint8_t *dst, uint32_t ip, uint32_t gw,
                           uint16_t mss, char *why, size_t whylen)
{
    struct virtio_net_hdr_v1 *h = (struct virtio_net_hdr_v1 *)buf;
    uint8_t *f = buf + VNET_HDR_LEN;
    memset(buf, 0, VNET_HDR_LEN + size);
    if (size <= ETH_FRAME_MAX) {
        if (size < ETH_HLEN + IP_HLEN + UDP_HLEN)
            return snprintf(why, whylen, "size %u below a UDP frame (42)", size), false;
        net_build_udp(f, dst, n->mac, ip, gw, NB_PORT, NB_PORT, f + ETH_HLEN + IP_HLEN + UDP_HLEN,
                      size - (ETH_HLEN + IP_HLEN + UDP_HLEN), 1);
        return true;
    }
    if (!virtio_has(n->vd, VIRTIO_NET_F_HOST_TSO4) || !virtio_has(n->vd, VIRTIO_NET_F_CSUM))
        return snprintf(why, whylen, "size %u needs HOST_TSO4 and CSUM (not negotiated)", size), false;
    uint32_t tcp_len = size - ETH_HLEN - IP_HLEN;
    net_build_eth(f, dst, n->mac, ETH_P_IP);
    uint8_t *ipH = f + ETH_HLEN, *t = ipH + IP_HLEN;
    ipH[0] = 0x45;
    put16be(ipH + 2, (uint16_t)(IP_HLEN + tcp_len));
    put16be(ipH + 4, 1);
    put16be(ipH + 6, 0x4000);       /* DF */
    ipH[8] = 64;
    ipH[9] = IPPROTO_TCP;
    put32be(ipH + 12, ip);
    put32be(ipH + 16, gw);
    put16be(ipH + 10, net_csum_fold(net_csum_add(0, ipH, IP_HLEN)));
    put16be(t, NB_PORT);
    put16be(t + 2, NB_PORT);
    put32be(t + 4, 1);              /* seq */
    put32be(t + 8, 1);              /* ack */
    t[12] = (TCP_HLEN / 4) << 4;
    t[13] = 0x18;                   /* ACK | PSH */
    put16be(t + 14, 0xffff);
    /* Partial checksum: the pseudo-header sum, not complemented (as Linux leaves it for the NIC). */
    uint8_t ph[12];
    put32be(ph, ip);
    put32be(ph + 4, gw);
    ph[8] = 0;
    ph[9] = IPPROTO_TCP;
    put16be(ph + 10, (uint16_t)tcp_len);
    put16be(t + 16, (uint16_t)~net_csum_fold(net_csum_add(0, ph, sizeof(ph))));
    h->flags = VNET_HDR_F_NEEDS_CSUM;
    h->gso_type = VNET_GSO_TCPV4;
    h->hdr_len = ETH_HLEN + IP_HLEN + TCP_HLEN;
    h->gso_size = mss;
    h->csum_start = ETH_HLEN + IP_HLEN;
    h->csum_offset = 16;
    return true;
}

static const char *feature_list(struct virtio_dev *d)
{
    static char s[64];
    snprintf(s, sizeof(s), "%s%s%s%s", virtio_has(d, VIRTIO_F_EVENT_IDX) ? "EVENT_IDX," : "",
             virtio_has(d, VIRTIO_NET_F_MRG_RXBUF) ? "MRG_RXBUF," : "", virtio_has(d, VIRTIO_NET_F_CSUM) ? "CSUM," : "",
             virtio_has(d, VIRTIO_NET_F_HOST_TSO4) ? "HOST_TSO4," : "");
    size_t l = strlen(s);
    if (l)
        s[l - 1] = 0;
    return s;
}

/* One phase on a freshly initialised device. false with *why on a setup or protocol failure. */
static bool run_phase(struct vnet *n, unsigned idx, const struct phase *p, struct nb_result *res, char *why, size_t whylen)
{
    struct virtio_dev *d = n->vd;
    bool inorder = get_num("bench.inorder", 1) != 0;
    uint64_t wait_ms = get_num("bench.wait", 120) * 1000;
    uint32_t ip = IP4(10, 0, 2, 15), gw = IP4(10, 0, 2, 2);
    const char *s = cmdline_get("net.ip");
    if (s && !net_parse_ip(s, &ip))
        return snprintf(why, whylen, "bad net.ip=%s", s), false;
    s = cmdline_get("net.gw");
    if (s && !net_parse_ip(s, &gw))
        return snprintf(why, whylen, "bad net.gw=%s", s), false;
    uint8_t dst[ETH_ALEN];
    memcpy(dst, eth_broadcast, ETH_ALEN);
    s = cmdline_get("bench.dstmac");
    if (s && !net_parse_mac(s, dst))
        return snprintf(why, whylen, "bad bench.dstmac=%s", s), false;

    if (!vnet_init(n))
        return snprintf(why, whylen, "init: %s", n->err), false;
    memset(res, 0, sizeof(*res));
    if (p->tx) {
        uint8_t *buf = (uint8_t *)(uintptr_t)(area + NB_TX_OFFSET);
        if (!build_tx_frame(n, buf, p->size, dst, ip, gw, (uint16_t)get_num("bench.mss", 1448), why, whylen))
            return false;
        struct virtq *vq = &d->vq[VNET_TXQ];
        if (!virtq_pool_init(d, VNET_TXQ))
            return snprintf(why, whylen, "tx queue busy"), false;
        virtq_disable_irq(d, VNET_TXQ);
        struct virtio_buf vb = {(uint64_t)(uintptr_t)buf, VNET_HDR_LEN + p->size, false};
        for (unsigned i = 0; i < vq->size; i++)
            if (virtq_add(d, VNET_TXQ, &vb, 1, false, (void *)(uintptr_t)(i + 1)) != (int)i)
                return snprintf(why, whylen, "tx chain %u did not get head %u", i, i), false;
        printf("BENCH-START phase=%u dir=tx size=%u slots=%u features=%s\n", idx, p->size, vq->size, feature_list(d));
        pump(d, VNET_TXQ, inorder, 0, wait_ms, res);
        res->bytes = res->frames * p->size;
    } else {
        if (p->size < ETH_HLEN || p->size > ETH_FRAME_MAX)
            return snprintf(why, whylen, "rx size %u: want 14..1514", p->size), false;
        struct virtq *vq = &d->vq[VNET_RXQ];
        if (n->rx_posted != vq->size)
            return snprintf(why, whylen, "%u rx buffers posted, want %u", n->rx_posted, vq->size), false;
        printf("BENCH-START phase=%u dir=rx size=%u slots=%u features=%s\n", idx, p->size, vq->size, feature_list(d));
        pump(d, VNET_RXQ, inorder, VNET_HDR_LEN + p->size, wait_ms, res);
        res->bytes = res->frames * p->size;
    }
    printf("BENCH-END phase=%u dir=%s size=%u frames=%lu bytes=%lu kicks=%lu batches=%lu bad=%lu polls=%lu tsc_cycles=%lu\n",
           idx, p->tx ? "tx" : "rx", p->size, res->frames, res->bytes, res->kicks, res->batches, res->bad, res->polls,
           res->cycles);
    if (res->order_broken)
        return snprintf(why, whylen, "device used buffers out of order (run with bench.inorder=0)"), false;
    if (res->needs_reset)
        return snprintf(why, whylen, "device needs reset (status 0x%x)", virtio_status(d)), false;
    if (!res->stopped)
        return snprintf(why, whylen, "no stop byte on COM1 within bench.wait"), false;
    return true;
}

bool test_net_bench(struct test_result *r)
{
    struct phase phases[NB_MAX_PHASES];
    unsigned np = 0;
    const char *list = cmdline_get("bench.phases");
    if (list) {
        char item[24];
        while (list_next(&list, item, sizeof(item))) {
            if (np == NB_MAX_PHASES)
                return fail(r, "more than %u phases", NB_MAX_PHASES);
            if (!parse_phase(item, &phases[np]))
                return fail(r, "bad phase '%s' (want tx:SIZE or rx:SIZE)", item);
            np++;
        }
    } else {
        const char *dir = cmdline_get("bench.dir");
        char item[24];
        snprintf(item, sizeof(item), "%s:%lu", dir ? dir : "tx", get_num("bench.size", 64));
        if (!parse_phase(item, &phases[0]))
            return fail(r, "bad bench.dir/bench.size (%s)", item);
        np = 1;
    }
    for (unsigned i = 0; i < np; i++)
        if (phases[i].size > NB_MAX_FRAME)
            return fail(r, "size %u above %u", phases[i].size, NB_MAX_FRAME);

    char err[128];
    struct vnet *n = vnet_get(0, err, sizeof(err));
    if (!n)
        return fail(r, "%s", err);
    if (!area && !(area = memrange_alloc_ram(NB_AREA)))
        return fail(r, "no free RAM for the rings' buffers");

    uint64_t saved = n->wanted;
    if (get_num("bench.offload", 1))
        n->wanted |= VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4);
    n->rx_area = area;
    n->rx_count = VIRTQ_MAX_SIZE;
    n->rx_stride = NB_RX_STRIDE;

    bool ok = true;
    for (unsigned i = 0; i < np && ok; i++) {
        struct nb_result res;
        char why[96];
        if (!run_phase(n, i, &phases[i], &res, why, sizeof(why)))
            ok = fail(r, "%sphase %u (%s:%u): %s", r->len ? " " : "", i, phases[i].tx ? "tx" : "rx", phases[i].size, why);
        else
            detail(r, "%s%s:%u=%lu", r->len ? " " : "", phases[i].tx ? "tx" : "rx", phases[i].size, res.frames);
    }
    /* Leave the device as the other net-* tests expect it: default features, its own buffers. */
    n->wanted = saved;
    n->rx_area = 0;
    if (!vnet_init(n))
        return fail(r, "%sre-initialisation failed: %s", r->len ? " " : "", n->err);
    return ok;
}
