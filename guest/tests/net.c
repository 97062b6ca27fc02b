/* NIC tests (all on request): virtio-net (lib/virtio_net) and the Intel 8254x (lib/e1000).
 * `net.nic=virtio|e1000` picks the device type; without it the first NIC in PCI order is used.
 * The network is expected to look like QEMU's user networking (slirp): the guest is
 * 10.0.2.15 (net.ip=), the gateway 10.0.2.2 (net.gw=) answers ARP and DHCP.
 *
 * While any test waits for a frame, ARP requests for the guest's address are answered, so a
 * backend that has to resolve the guest (slirp forwarding a host datagram) can. */
#include "tests/test.h"
#include "lib/cmdline.h"
#include "lib/cpu.h"
#include "lib/e1000.h"
#include "lib/io.h"
#include "lib/ioapic.h"
#include "lib/lapic.h"
#include "lib/memrange.h"
#include "lib/msix.h"
#include "lib/net.h"
#include "lib/printf.h"
#include "lib/start_info.h"
#include "lib/string.h"
#include "lib/tsc.h"
#include "lib/virtio_net.h"

#define NET_IP_DEFAULT IP4(10, 0, 2, 15)
#define NET_GW_DEFAULT IP4(10, 0, 2, 2)
#define ECHO_PORT 7
#define PEER_MAGIC "jkvm-net-peer"

/* MSI-X / INTx vectors (blk-* use 0x40-0x4f). */
#define VEC_NET_CONFIG 0x50
#define VEC_NET_RX     0x51
#define VEC_E1000_INTX 0x52
#define VEC_NET_BAD    0x60     /* net-bad: config vector per case, 0x60-0x6f */

enum nic_kind { NIC_VIRTIO = 1, NIC_E1000 = 2 };

struct nic {
    enum nic_kind kind;
    const char *name;
    struct pci_func *pci;
    struct vnet *vn;
    struct e1000 *e;
    uint8_t mac[ETH_ALEN];
    uint32_t ip, gw;
    bool split_tx;              /* virtio: header and frame in separate descriptors */
    /* counters of what net_wait saw */
    unsigned frames, bad_frames, arp_answered;
    const char *last_bad;
};

static struct nic the_nic;
static uint8_t rxf[2048] __attribute__((aligned(64)));
static uint8_t txf[2048] __attribute__((aligned(64)));

/* ---- NIC selection and the common data path -------------------------------------------- */

static bool is_nic(const struct pci_func *f, enum nic_kind *k)
{
    if (virtio_pci_type(f) == VIRTIO_ID_NET)
        return *k = NIC_VIRTIO, true;
    if (e1000_is_8254x(f))
        return *k = NIC_E1000, true;
    return false;
}

static struct nic *nic_get(struct test_result *r)
{
    struct nic *n = &the_nic;
    if (n->kind)
        return n;
    if (pci_count() == 0)
        pci_scan();
    const char *want = cmdline_get("net.nic");
    enum nic_kind kind = 0;
    if (want) {
        if (strcmp(want, "virtio") == 0)
            kind = NIC_VIRTIO;
        else if (strcmp(want, "e1000") == 0)
            kind = NIC_E1000;
        else
            return fail(r, "net.nic=%s: want virtio or e1000", want), (struct nic *)0;
    } else {
        for (unsigned i = 0; i < pci_count() && !kind; i++)
            is_nic(pci_get(i), &kind);
        if (!kind)
            return fail(r, "no NIC (virtio-net or 8086:100e) found"), (struct nic *)0;
    }
    char err[128];
    if (kind == NIC_VIRTIO) {
        n->vn = vnet_get(0, err, sizeof(err));
        if (!n->vn)
            return fail(r, "%s", err), (struct nic *)0;
        n->pci = n->vn->vd->pci;
        memcpy(n->mac, n->vn->mac, ETH_ALEN);
        n->name = "virtio";
    } else {
        n->e = e1000_get(0, err, sizeof(err));
        if (!n->e)
            return fail(r, "%s", err), (struct nic *)0;
        n->pci = n->e->pci;
        memcpy(n->mac, n->e->mac, ETH_ALEN);
        n->name = "e1000";
    }
    n->ip = NET_IP_DEFAULT;
    n->gw = NET_GW_DEFAULT;
    const char *s = cmdline_get("net.ip");
    if (s && !net_parse_ip(s, &n->ip))
        return fail(r, "bad net.ip=%s", s), (struct nic *)0;
    s = cmdline_get("net.gw");
    if (s && !net_parse_ip(s, &n->gw))
        return fail(r, "bad net.gw=%s", s), (struct nic *)0;
    n->kind = kind;
    return n;
}

static const char *nic_err(struct nic *n) { return n->kind == NIC_VIRTIO ? n->vn->err : n->e->err; }

static bool nic_send(struct test_result *r, struct nic *n, const void *frame, uint32_t len)
{
    bool ok = n->kind == NIC_VIRTIO ? vnet_send(n->vn, frame, len, n->split_tx) : e1000_send(n->e, frame, len);
    if (!ok)
        fail(r, "%ssend: %s", r->len ? " " : "", nic_err(n));
    return ok;
}

static int nic_recv(struct nic *n, void *buf, uint32_t max)
{
    return n->kind == NIC_VIRTIO ? vnet_recv(n->vn, buf, max) : e1000_recv(n->e, buf, max);
}

/* Re-initialises the device (after an interrupt set-up change or a reset). */
static bool nic_reinit(struct test_result *r, struct nic *n)
{
    bool ok = n->kind == NIC_VIRTIO ? vnet_init(n->vn) : e1000_init(n->e);
    if (!ok)
        fail(r, "%sreinit: %s", r->len ? " " : "", nic_err(n));
    return ok;
}

typedef bool (*pkt_match)(struct nic *n, const struct pkt *p, uint32_t len, void *ctx);

static void answer_arp(struct test_result *r, struct nic *n, const struct pkt *p)
{
    static uint8_t reply[64];
    uint32_t len = net_build_arp(reply, ARP_REPLY, n->mac, n->ip, p->arp_sha, p->arp_spa);
    if (nic_send(r, n, reply, len))
        n->arp_answered++;
}

/* Polls for a frame that `match` accepts, for at least `ms`. Answers ARP requests for our
 * address on the way. 1: matched (*p and rxf hold it), 0: timeout, -1: device error (in r). */
static int net_wait(struct test_result *r, struct nic *n, uint64_t ms, pkt_match match, void *ctx, struct pkt *p)
{
    uint64_t deadline = rdtsc() + ms * TSC_MAX_PER_MS;
    for (unsigned it = 0;; it++) {
        int len = nic_recv(n, rxf, sizeof(rxf));
        if (len < 0)
            return fail(r, "%srecv: %s", r->len ? " " : "", nic_err(n)), -1;
        if (len > 0) {
            n->frames++;
            uint32_t l = (uint32_t)len > sizeof(rxf) ? sizeof(rxf) : (uint32_t)len;
            if (net_parse(rxf, l, p)) {
                if (p->bad) {
                    n->bad_frames++;
                    n->last_bad = p->bad;
                }
                if (p->is_arp && p->arp_op == ARP_REQUEST && p->arp_tpa == n->ip && p->arp_spa != n->ip) {
                    answer_arp(r, n, p);
                    continue;
                }
                if (match && match(n, p, l, ctx))
                    return 1;
            }
            continue;
        }
        if ((it & 255) == 255 && n->kind == NIC_VIRTIO && virtio_needs_reset(n->vn->vd))
            return fail(r, "%sdevice set NEEDS_RESET (status 0x%x)", r->len ? " " : "", virtio_status(n->vn->vd)), -1;
        if (tsc_passed(deadline))
            return 0;
        cpu_pause();
    }
}

/* ---- ARP ------------------------------------------------------------------------------- */

struct arp_ctx {
    uint32_t ip;
};

static bool match_arp_reply(struct nic *n, const struct pkt *p, uint32_t len, void *ctx)
{
    (void)len;
    const struct arp_ctx *c = ctx;
    return p->is_arp && p->arp_op == ARP_REPLY && p->arp_spa == c->ip && p->arp_tpa == n->ip &&
           memcmp(p->dst, n->mac, ETH_ALEN) == 0;
}

static bool match_arp_reply_any(struct nic *n, const struct pkt *p, uint32_t len, void *ctx)
{
    (void)len, (void)ctx;
    return p->is_arp && p->arp_op == ARP_REPLY && p->arp_tpa == n->ip;
}

/* ARP request for ip, up to `tries` times 1 s apart; the reply's sender MAC in mac. */
static int arp_resolve(struct test_result *r, struct nic *n, uint32_t ip, uint8_t *mac, unsigned tries,
                       unsigned *used)
{
    static uint8_t req[64];
    struct arp_ctx c = {ip};
    struct pkt p;
    for (unsigned t = 1; t <= tries; t++) {
        if (used)
            *used = t;
        uint32_t len = net_build_arp(req, ARP_REQUEST, n->mac, n->ip, 0, ip);
        if (!nic_send(r, n, req, len))
            return -1;
        int w = net_wait(r, n, 1000, match_arp_reply, &c, &p);
        if (w < 0)
            return -1;
        if (w > 0) {
            if (memcmp(p.arp_sha, p.src, ETH_ALEN) != 0)
                return fail(r, "%sARP reply sender %s differs from its Ethernet source %s", r->len ? " " : "",
                            net_fmt_mac(p.arp_sha), net_fmt_mac(p.src)), -1;
            if (memcmp(p.arp_tha, n->mac, ETH_ALEN) != 0)
                return fail(r, "%sARP reply target %s is not us", r->len ? " " : "", net_fmt_mac(p.arp_tha)), -1;
            memcpy(mac, p.arp_sha, ETH_ALEN);
            return 1;
        }
    }
    return 0;
}

static bool mac_is_unicast(const uint8_t *m)
{
    static const uint8_t zero[ETH_ALEN];
    return !(m[0] & 1) && memcmp(m, zero, ETH_ALEN) != 0;
}

/* The gateway answers; "net.gwmac=" (optional) says which MAC it must have. */
static bool arp_gateway(struct test_result *r, struct nic *n, uint8_t *gwmac, unsigned *tries)
{
    int a = arp_resolve(r, n, n->gw, gwmac, 5, tries);
    if (a < 0)
        return false;
    if (a == 0)
        return fail(r, "%sno ARP reply from %s after %u requests (frames seen %u, malformed %u%s%s)",
                    r->len ? " " : "", net_fmt_ip(n->gw), *tries, n->frames, n->bad_frames,
                    n->last_bad ? " last " : "", n->last_bad ? n->last_bad : "");
    if (!mac_is_unicast(gwmac))
        return fail(r, "%sgateway MAC %s is not a unicast address", r->len ? " " : "", net_fmt_mac(gwmac));
    const char *want = cmdline_get("net.gwmac");
    uint8_t w[ETH_ALEN];
    if (want && (!net_parse_mac(want, w) || memcmp(w, gwmac, ETH_ALEN) != 0))
        return fail(r, "%sgateway MAC %s but net.gwmac=%s", r->len ? " " : "", net_fmt_mac(gwmac), want);
    return true;
}

/* ---- net-id ---------------------------------------------------------------------------- */

static bool check_mac_param(struct test_result *r, const uint8_t *mac)
{
    const char *want = cmdline_get("net.mac");
    uint8_t w[ETH_ALEN];
    if (!want)
        return true;
    if (!net_parse_mac(want, w))
        return fail(r, " bad net.mac=%s", want);
    if (memcmp(w, mac, ETH_ALEN) != 0)
        return fail(r, " MAC %s but net.mac=%s", net_fmt_mac(mac), want);
    return true;
}

static void vnet_feature_names(struct test_result *r, uint64_t f)
{
    static const struct bit_name names[] = {
        {VIRTIO_NET_F_MAC, "MAC"},         {VIRTIO_NET_F_STATUS, "STATUS"},
        {VIRTIO_NET_F_MTU, "MTU"},         {VIRTIO_NET_F_MRG_RXBUF, "MRG_RXBUF"},
        {VIRTIO_NET_F_CTRL_VQ, "CTRL_VQ"}, {VIRTIO_NET_F_CTRL_RX, "CTRL_RX"},
        {VIRTIO_F_INDIRECT_DESC, "INDIRECT_DESC"}, {VIRTIO_F_EVENT_IDX, "EVENT_IDX"},
        {VIRTIO_F_VERSION_1, "VERSION_1"},
    };
    detail_bits(r, f, names, sizeof(names) / sizeof(names[0]));
}

static bool id_virtio(struct test_result *r, struct nic *n)
{
    struct vnet *v = n->vn;
    struct virtio_dev *d = v->vd;
    detail(r, " mac=%s link=%s queues=%u rxq=%u txq=%u", net_fmt_mac(v->mac),
           (v->status & VIRTIO_NET_S_LINK_UP) ? "up" : "down", d->num_queues, d->vq[VNET_RXQ].size,
           d->vq[VNET_TXQ].size);
    if (v->mtu)
        detail(r, " mtu=%u", v->mtu);
    if (virtio_has(d, VIRTIO_NET_F_CTRL_VQ))
        detail(r, " ctrlq=%u promisc=%s", d->vq[VNET_CTRLQ].size, v->promisc_off ? "off" : "on");
    detail(r, " features=");
    vnet_feature_names(r, d->features);
    bool ok = check_mac_param(r, v->mac);
    if (!virtio_has(d, VIRTIO_NET_F_MAC) || !virtio_has(d, VIRTIO_NET_F_STATUS))
        ok = fail(r, " MAC and STATUS must be offered (offered 0x%lx)", d->offered);
    if (!(v->status & VIRTIO_NET_S_LINK_UP))
        ok = fail(r, " status 0x%x: LINK_UP clear", v->status);
    if (!mac_is_unicast(v->mac))
        ok = fail(r, " config MAC is not a unicast address");
    if ((d->features & ~d->offered) || !virtio_has(d, VIRTIO_F_VERSION_1))
        ok = fail(r, " negotiated 0x%lx not within offered 0x%lx", d->features, d->offered);
    if (v->mtu && v->mtu < 1500)
        ok = fail(r, " mtu %u < 1500", v->mtu);
    return ok;
}

static bool id_e1000(struct test_result *r, struct nic *n)
{
    struct e1000 *e = n->e;
    bool ok = true;
    detail(r, " mac=%s eeprom_sum=0x%04x", net_fmt_mac(e->mac), e->eeprom_sum);
    if (e->eeprom_sum != E1000_EEPROM_SUM)
        ok = fail(r, "(want 0x%04x)", E1000_EEPROM_SUM);
    ok = check_mac_param(r, e->mac) && ok;
    if (!mac_is_unicast(e->mac))
        ok = fail(r, " EEPROM MAC is not a unicast address");

    /* The same words by bit-banging EECD (Linux's e1000 reads the 82540's EEPROM this way). */
    uint32_t eecd = e1000_read(e, E1000_EECD);
    if (!(eecd & E1000_EECD_PRES))
        ok = fail(r, " EECD 0x%x: EEPROM not present", eecd);
    bool same = true;
    for (unsigned w = 0; w < 3; w++) {
        int v = e1000_eecd_read(e, w);
        if (v != e->eeprom[w]) {
            same = false;
            ok = fail(r, " EECD word %u reads 0x%x, EERD 0x%04x", w, v, e->eeprom[w]);
            break;
        }
    }
    if (same)
        detail(r, " eecd=match");

    uint32_t ral = e1000_read(e, E1000_RAL0), rah = e1000_read(e, E1000_RAH0);
    uint32_t want_ral = (uint32_t)e->mac[0] | (uint32_t)e->mac[1] << 8 | (uint32_t)e->mac[2] << 16 |
                        (uint32_t)e->mac[3] << 24;
    uint32_t want_rah = (uint32_t)e->mac[4] | (uint32_t)e->mac[5] << 8 | E1000_RAH_AV;
    if (ral != want_ral || (rah & 0x8000ffffu) != want_rah)
        ok = fail(r, " RAL/RAH read 0x%08x/0x%08x, want 0x%08x/0x%08x", ral, rah, want_ral, want_rah);

    uint32_t st = e1000_read(e, E1000_STATUS);
    static const unsigned speeds[4] = {10, 100, 1000, 1000};
    detail(r, " status=0x%08x link=%s speed=%u fd=%u", st, (st & E1000_STATUS_LU) ? "up" : "down",
           speeds[(st >> E1000_STATUS_SPEED_SHIFT) & 3], st & E1000_STATUS_FD);
    if (!(st & E1000_STATUS_LU))
        ok = fail(r, " (STATUS.LU clear)");

    (void)e1000_phy_read(e, MII_BMSR);          /* the link bit latches low: read twice */
    int bmsr = e1000_phy_read(e, MII_BMSR), id1 = e1000_phy_read(e, MII_PHYSID1), id2 = e1000_phy_read(e, MII_PHYSID2);
    if (bmsr < 0 || id1 < 0 || id2 < 0) {
        ok = fail(r, " MDIC read of PHY 1 failed (MDIC 0x%x)", e1000_read(e, E1000_MDIC));
    } else {
        detail(r, " phy_bmsr=0x%04x phy_id=0x%04x%04x", bmsr, id1, id2);
        if (!(bmsr & MII_BMSR_LINK))
            ok = fail(r, " (PHY link status clear)");
        if (id1 == 0 || id1 == 0xffff)
            ok = fail(r, " (no PHY identifier)");
    }

    /* One register through the I/O BAR: STATUS via IOADDR/IODATA. QEMU's e1000 implements the
     * I/O BAR as a stub that reads 0; net.e1000io=1 requires the real thing. */
    uint64_t strict = 0;
    cmdline_get_u64("net.e1000io", &strict);
    if (!e->io) {
        ok = fail(r, " no I/O BAR");
    } else {
        uint32_t io_st = e1000_io_read(e, E1000_STATUS), mm_st = e1000_read(e, E1000_STATUS);
        if (io_st == mm_st) {
            detail(r, " io=0x%x:ok", e->io);
        } else if (io_st == 0 && !strict) {
            detail(r, " io=0x%x:stub", e->io);
        } else {
            ok = fail(r, " io=0x%x: STATUS reads 0x%08x through IODATA, 0x%08x through BAR0", e->io, io_st, mm_st);
        }
    }
    return ok;
}

bool test_net_id(struct test_result *r)
{
    struct nic *n = nic_get(r);
    if (!n)
        return false;
    struct pci_func *f = n->pci;
    detail(r, "nic=%s %02x:%02x.%x %04x:%04x", n->name, f->bus, f->dev, f->fn, f->vendor, f->device);
    return n->kind == NIC_VIRTIO ? id_virtio(r, n) : id_e1000(r, n);
}

/* ---- net-arp --------------------------------------------------------------------------- */

bool test_net_arp(struct test_result *r)
{
    struct nic *n = nic_get(r);
    if (!n)
        return false;
    uint32_t gptc = 0, tpt = 0, gprc = 0, tpr = 0;
    if (n->kind == NIC_E1000) {            /* statistics clear on read */
        (void)e1000_read(n->e, E1000_GPTC), (void)e1000_read(n->e, E1000_TPT);
        (void)e1000_read(n->e, E1000_GPRC), (void)e1000_read(n->e, E1000_TPR);
    }
    uint8_t gwmac[ETH_ALEN];
    unsigned tries = 0;
    if (!arp_gateway(r, n, gwmac, &tries))
        return false;
    detail(r, "nic=%s %s is-at %s tries=%u", n->name, net_fmt_ip(n->gw), net_fmt_mac(gwmac), tries);
    if (n->kind == NIC_E1000) {
        gptc = e1000_read(n->e, E1000_GPTC), tpt = e1000_read(n->e, E1000_TPT);
        gprc = e1000_read(n->e, E1000_GPRC), tpr = e1000_read(n->e, E1000_TPR);
        detail(r, " stats: gptc=%u tpt=%u gprc=%u tpr=%u", gptc, tpt, gprc, tpr);
        if (gptc < tries || tpt < tries || gprc < 1 || tpr < 1)
            return fail(r, " (want gptc,tpt >= %u and gprc,tpr >= 1)", tries);
    }
    return true;
}

/* ---- net-dhcp -------------------------------------------------------------------------- */

struct dhcp_ctx {
    uint32_t xid;
    struct dhcp_info info;
};

static bool match_dhcp(struct nic *n, const struct pkt *p, uint32_t len, void *ctx)
{
    (void)len;
    struct dhcp_ctx *c = ctx;
    return net_parse_dhcp(p, c->xid, n->mac, &c->info);
}

bool test_net_dhcp(struct test_result *r)
{
    struct nic *n = nic_get(r);
    if (!n)
        return false;
    struct dhcp_ctx c = {.xid = (uint32_t)rdtsc() ^ 0x6a6b766du};
    struct pkt p;
    int w = 0;
    unsigned tries;
    for (tries = 1; tries <= 4 && w == 0; tries++) {
        uint32_t len = net_build_dhcp_discover(txf, n->mac, c.xid);
        if (!nic_send(r, n, txf, len))
            return false;
        w = net_wait(r, n, 2000, match_dhcp, &c, &p);
        if (w < 0)
            return false;
    }
    if (w == 0)
        return fail(r, "no DHCP reply to %u DISCOVERs (frames seen %u, malformed %u%s%s)", tries - 1, n->frames,
                    n->bad_frames, n->last_bad ? " last " : "", n->last_bad ? n->last_bad : "");
    const struct dhcp_info *i = &c.info;
    detail(r, "nic=%s type=%u offer=%s router=%s mask=%s", n->name, i->msg_type, net_fmt_ip(i->yiaddr),
           net_fmt_ip(i->router), net_fmt_ip(i->mask));
    detail(r, " dns=%s server=%s lease=%u from=%s/%s", net_fmt_ip(i->dns), net_fmt_ip(i->server_id), i->lease,
           net_fmt_mac(p.src), net_fmt_ip(p.ip_src));
    bool ok = true;
    if (i->msg_type != DHCP_OFFER)
        ok = fail(r, " (message type %u, want OFFER)", i->msg_type);
    if (i->yiaddr != n->ip)
        ok = fail(r, " (offer is not %s)", net_fmt_ip(n->ip));
    if (i->router != n->gw)
        ok = fail(r, " (router is not %s)", net_fmt_ip(n->gw));
    if (!p.udp_csum_present)
        detail(r, " udp_csum=none");
    return ok;
}

/* ---- net-udp-echo ---------------------------------------------------------------------- */

static bool match_echo(struct nic *n, const struct pkt *p, uint32_t len, void *ctx)
{
    (void)len, (void)ctx;
    return p->is_udp && p->ip_dst == n->ip && p->dport == ECHO_PORT;
}

bool test_net_udp_echo(struct test_result *r)
{
    struct nic *n = nic_get(r);
    if (!n)
        return false;
    uint64_t want = 4, wait_s = 60;
    cmdline_get_u64("net.echo", &want);
    cmdline_get_u64("net.wait", &wait_s);
    if (want == 0)
        want = 1;
    /* Let the gateway learn our MAC first; net.prime=0 skips this, so the backend has to ARP
     * for us (answered in net_wait). */
    uint64_t prime = 1;
    cmdline_get_u64("net.prime", &prime);
    uint8_t gwmac[ETH_ALEN];
    if (prime && arp_resolve(r, n, n->gw, gwmac, 2, 0) < 0)
        return false;
    printf("NET-READY nic=%s mac=%s ip=%s port=%u count=%lu\n", n->name, net_fmt_mac(n->mac), net_fmt_ip(n->ip),
           ECHO_PORT, want);
    uint64_t deadline = rdtsc() + wait_s * 1000 * TSC_MAX_PER_MS;
    unsigned echoed = 0, split = 0;
    uint32_t bytes = 0, maxlen = 0, minlen = 0xffffffffu, src = 0;
    uint16_t sport = 0;
    struct pkt p;
    while (echoed < want) {
        if (tsc_passed(deadline))
            return fail(r, "echoed %u of %lu datagrams in %lu s (frames seen %u, malformed %u%s%s, arp answered %u)",
                        echoed, want, wait_s, n->frames, n->bad_frames, n->last_bad ? " last " : "",
                        n->last_bad ? n->last_bad : "", n->arp_answered);
        int w = net_wait(r, n, 1000, match_echo, 0, &p);
        if (w < 0)
            return false;
        if (w == 0)
            continue;
        /* Echo: swap addresses and ports, same payload (alternating TX layouts on virtio). */
        static uint8_t payload[UDP_PAYLOAD_MAX];
        uint32_t plen = p.plen > UDP_PAYLOAD_MAX ? UDP_PAYLOAD_MAX : p.plen;
        memcpy(payload, p.payload, plen);
        uint8_t dst[ETH_ALEN];
        memcpy(dst, p.src, ETH_ALEN);
        uint32_t len = net_build_udp(txf, dst, n->mac, n->ip, p.ip_src, ECHO_PORT, p.sport, payload, plen,
                                     (uint16_t)(0x4000 + echoed));
        n->split_tx = n->kind == NIC_VIRTIO && (echoed & 1);
        split += n->split_tx;
        bool ok = nic_send(r, n, txf, len);
        n->split_tx = false;
        if (!ok)
            return false;
        echoed++;
        bytes += plen;
        if (plen > maxlen)
            maxlen = plen;
        if (plen < minlen)
            minlen = plen;
        src = p.ip_src;
        sport = p.sport;
    }
    detail(r, "nic=%s echoed=%u bytes=%u min=%u max=%u from=%s:%u arp_answered=%u", n->name, echoed, bytes, minlen,
           maxlen, net_fmt_ip(src), sport, n->arp_answered);
    if (n->kind == NIC_VIRTIO)
        detail(r, " split_tx=%u", split);
    return true;
}

/* ---- net-irq --------------------------------------------------------------------------- */

/* `want`, or the next vector up to `last` whose IRR bit is still clear (a vector, once
 * delivered, stays pending: IF = 0). 0 if none. */
static uint8_t fresh_vector(uint8_t want, uint8_t last)
{
    for (unsigned v = want; v <= last; v++)
        if (!lapic_irr_pending((uint8_t)v))
            return (uint8_t)v;
    return 0;
}

static struct msix net_msix;

static bool irq_virtio(struct test_result *r, struct nic *n)
{
    struct vnet *v = n->vn;
    struct virtio_dev *d = v->vd;
    if (!msix_open(d->pci, &net_msix))
        return fail(r, " no usable MSI-X capability");
    if (net_msix.entries < 2)
        return fail(r, " MSI-X table has %u entries", net_msix.entries);
    uint8_t cv = fresh_vector(VEC_NET_CONFIG, VEC_NET_CONFIG + 7), qv = fresh_vector(VEC_NET_RX, VEC_NET_RX + 6);
    if (qv == cv)
        qv = fresh_vector((uint8_t)(cv + 1), VEC_NET_RX + 6);
    if (!cv || !qv)
        return fail(r, " no clear vector in 0x50..0x57 left");
    lapic_sw_enable();
    uint8_t apic = (uint8_t)cpu_apic_id();
    msix_set_entry(&net_msix, 0, apic, cv);
    msix_set_entry(&net_msix, 1, apic, qv);
    msix_enable(&net_msix);
    d->config_msix = 0;
    d->vq[VNET_RXQ].msix = 1;
    d->vq[VNET_TXQ].msix = VIRTIO_MSI_NO_VECTOR;
    d->vq[VNET_CTRLQ].msix = VIRTIO_MSI_NO_VECTOR;
    v->rx_irq = true;
    bool ok = nic_reinit(r, n);
    if (ok && lapic_irr_pending(qv))
        ok = fail(r, " vector 0x%x pending before any frame", qv);
    uint8_t gwmac[ETH_ALEN];
    unsigned tries = 0;
    if (ok && !arp_gateway(r, n, gwmac, &tries))
        ok = false;
    if (ok) {
        bool irr = lapic_wait_irr(qv, 1000);
        detail(r, " vector=0x%x irr=%u entries=%u table=BAR%u+0x%x rx_frames=%lu", qv, irr, net_msix.entries,
               net_msix.table_bar, net_msix.table_off, v->rx_frames);
        if (!irr)
            ok = fail(r, " (RX queue vector not in the LAPIC IRR; MSI-X control 0x%x, PBA bit %u)",
                      msix_control(&net_msix), msix_pending(&net_msix, 1));
    }
    /* Back to polling without vectors for the tests that follow. */
    d->config_msix = VIRTIO_MSI_NO_VECTOR;
    d->vq[VNET_RXQ].msix = VIRTIO_MSI_NO_VECTOR;
    v->rx_irq = false;
    return nic_reinit(r, n) && ok;
}

static bool irq_e1000(struct test_result *r, struct nic *n)
{
    struct e1000 *e = n->e;
    struct pci_func *f = n->pci;
    uint8_t line = pci_read8(f, 0x3c), pin = pci_read8(f, 0x3d);
    detail(r, " line=%u pin=%u", line, pin);
    if (pin < 1 || pin > 4)
        return fail(r, " (no interrupt pin)");
    unsigned pins = ioapic_pins();
    if (line == 0 || line >= pins || line == 0xff)
        return fail(r, " (interrupt line not an IOAPIC pin; IOAPIC has %u)", pins);

    /* ICS/ICR without an interrupt: every cause masked, ICS sets the cause, ICR read clears it. */
    e1000_write(e, E1000_IMC, 0xffffffffu);
    (void)e1000_read(e, E1000_ICR);
    e1000_write(e, E1000_ICS, E1000_ICR_LSC);
    uint32_t icr_ics = e1000_read(e, E1000_ICR), icr_after = e1000_read(e, E1000_ICR);
    uint16_t pstat_masked = pci_read16(f, PCI_STATUS);
    detail(r, " ics_icr=0x%x,0x%x", icr_ics, icr_after);
    if (!(icr_ics & E1000_ICR_LSC) || icr_after != 0)
        return fail(r, " (ICS LSC must read back in ICR once, then ICR 0)");
    if (pstat_masked & 0x0008)
        return fail(r, " (PCI status INTx bit set with every cause masked)");

    uint8_t vec = fresh_vector(VEC_E1000_INTX, VEC_E1000_INTX + 5);
    if (!vec)
        return fail(r, " no clear vector in 0x52..0x57 left");
    lapic_sw_enable();
    uint64_t old = ioapic_rte_get(line);
    uint64_t rte = vec | IOAPIC_RTE_LEVEL | (uint64_t)cpu_apic_id() << IOAPIC_RTE_DEST_SHIFT;
    ioapic_rte_set(line, rte);
    bool ok = true;
    if (lapic_irr_pending(vec))
        ok = fail(r, " vector 0x%x pending before any cause", vec);

    e1000_write(e, E1000_IMS, E1000_ICR_RXT0 | E1000_ICR_TXDW);
    uint32_t ims = e1000_read(e, E1000_IMS);
    uint8_t gwmac[ETH_ALEN];
    unsigned tries = 0;
    if (ok && !arp_gateway(r, n, gwmac, &tries))
        ok = false;
    if (ok) {
        bool irr = lapic_wait_irr(vec, 1000);
        uint16_t pstat = pci_read16(f, PCI_STATUS);
        uint64_t now = ioapic_rte_get(line);
        uint32_t icr = e1000_read(e, E1000_ICR);
        uint16_t pstat_after = pci_read16(f, PCI_STATUS);
        detail(r, " vector=0x%x irr=%u ims=0x%x icr=0x%x intx_status=%u->%u remote_irr=%u", vec, irr, ims, icr,
               (pstat >> 3) & 1, (pstat_after >> 3) & 1, (unsigned)((now >> 14) & 1));
        if (!irr)
            ok = fail(r, " (vector not in the LAPIC IRR)");
        if ((icr & (E1000_ICR_RXT0 | E1000_ICR_TXDW)) != (E1000_ICR_RXT0 | E1000_ICR_TXDW))
            ok = fail(r, " (ICR lacks RXT0|TXDW)");
        if (pstat_after & 0x0008)
            ok = fail(r, " (INTx still asserted after the ICR read)");
    }
    e1000_write(e, E1000_IMC, 0xffffffffu);
    (void)e1000_read(e, E1000_ICR);
    ioapic_rte_set(line, old | IOAPIC_RTE_MASKED);
    return ok;
}

bool test_net_irq(struct test_result *r)
{
    struct nic *n = nic_get(r);
    if (!n)
        return false;
    detail(r, "nic=%s", n->name);
    return n->kind == NIC_VIRTIO ? irq_virtio(r, n) : irq_e1000(r, n);
}

/* ---- net-peer -------------------------------------------------------------------------- */

#define PEER_LEN 128    /* payload bytes: "jkvm-net-peer hello|ack seq=N " then a byte pattern */

static uint32_t build_peer(uint8_t *buf, const uint8_t *dst, const uint8_t *src, const char *what, unsigned seq)
{
    uint32_t h = net_build_eth(buf, dst, src, ETH_P_PEER);
    uint8_t *pl = buf + h;
    memset(pl, 0, PEER_LEN);
    int t = snprintf((char *)pl, 48, PEER_MAGIC " %s seq=%u ", what, seq);
    for (uint32_t i = (uint32_t)t + 1; i < PEER_LEN; i++)
        pl[i] = (uint8_t)(i * 7 + 3);
    return h + PEER_LEN;
}

struct peer_ctx {
    const char *what;
    bool unicast;               /* must be addressed to our MAC (else broadcast) */
    unsigned seq;
    uint8_t from[ETH_ALEN];
};

static bool match_peer(struct nic *n, const struct pkt *p, uint32_t len, void *ctx)
{
    struct peer_ctx *c = ctx;
    if (p->ethertype != ETH_P_PEER || len < ETH_HLEN + PEER_LEN)
        return false;
    const uint8_t *pl = p->l3;
    char prefix[40];
    int t = snprintf(prefix, sizeof(prefix), PEER_MAGIC " %s seq=", c->what);
    if (memcmp(pl, prefix, (size_t)t) != 0)
        return false;
    uint32_t z = 0;
    while (z < PEER_LEN && pl[z])
        z++;
    if (z == PEER_LEN)
        return false;
    for (uint32_t i = z + 1; i < PEER_LEN; i++)
        if (pl[i] != (uint8_t)(i * 7 + 3))
            return false;
    if (c->unicast ? memcmp(p->dst, n->mac, ETH_ALEN) != 0 : memcmp(p->dst, eth_broadcast, ETH_ALEN) != 0)
        return false;
    unsigned seq = 0;
    for (const uint8_t *d = pl + t; *d >= '0' && *d <= '9'; d++)
        seq = seq * 10 + (unsigned)(*d - '0');
    c->seq = seq;
    memcpy(c->from, p->src, ETH_ALEN);
    return true;
}

bool test_net_peer(struct test_result *r)
{
    struct nic *n = nic_get(r);
    if (!n)
        return false;
    const char *role = cmdline_get("net.role");
    uint64_t wait_s = 60;
    cmdline_get_u64("net.wait", &wait_s);
    if (!role || (strcmp(role, "send") != 0 && strcmp(role, "recv") != 0))
        return fail(r, "net.role=send|recv required");
    detail(r, "nic=%s role=%s mac=%s", n->name, role, net_fmt_mac(n->mac));
    printf("NET-READY nic=%s mac=%s role=%s\n", n->name, net_fmt_mac(n->mac), role);
    uint64_t deadline = rdtsc() + wait_s * 1000 * TSC_MAX_PER_MS;
    struct pkt p;
    if (strcmp(role, "send") == 0) {
        /* Broadcast hello every ~0.5 s until the peer's unicast ack comes back. */
        struct peer_ctx c = {.what = "ack", .unicast = true};
        for (unsigned seq = 1;; seq++) {
            if (tsc_passed(deadline))
                return fail(r, " no ack after %u hellos (frames seen %u)", seq - 1, n->frames);
            uint32_t len = build_peer(txf, eth_broadcast, n->mac, "hello", seq);
            if (!nic_send(r, n, txf, len))
                return false;
            int w = net_wait(r, n, 500, match_peer, &c, &p);
            if (w < 0)
                return false;
            if (w > 0) {
                detail(r, " sent=%u acked_seq=%u peer=%s", seq, c.seq, net_fmt_mac(c.from));
                if (c.seq < 1 || c.seq > seq)
                    return fail(r, " (ack for a hello never sent)");
                return true;
            }
        }
    }
    struct peer_ctx c = {.what = "hello", .unicast = false};
    int w = net_wait(r, n, wait_s * 1000, match_peer, &c, &p);
    if (w < 0)
        return false;
    if (w == 0)
        return fail(r, " no hello within %lu s (frames seen %u)", wait_s, n->frames);
    uint8_t to[ETH_ALEN];
    memcpy(to, c.from, ETH_ALEN);
    uint32_t len = build_peer(txf, to, n->mac, "ack", c.seq);
    if (!nic_send(r, n, txf, len))
        return false;
    detail(r, " hello_seq=%u from=%s acked=1", c.seq, net_fmt_mac(to));
    return true;
}

/* ---- net-bad --------------------------------------------------------------------------- */

#define BAD_ADDR_OUTSIDE 0xfffffff00000ull  /* no RAM, no device */
#define BAD_LEN_OUTSIDE  8192u              /* more than QEMU's one-page bounce buffer */

static uint8_t bad_hdr[VNET_HDR_LEN + 64] __attribute__((aligned(64)));
static uint8_t bad_frame[64] __attribute__((aligned(64)));
static uint8_t bad_sink[2048] __attribute__((aligned(64)));
static struct virtq_desc bad_itab[4] __attribute__((aligned(64)));

struct bad_case {
    char name;
    const char *what;
    bool must_reset;            /* QEMU 7.2 flags it; a conforming device must too */
    bool needs_indirect;
    bool opt_in;                /* only with net.badshort=1: QEMU 7.2 aborts on it */
};

static const struct bad_case bad_cases[] = {
    {'a', "device-writable buffer only", true, false, false},
    {'b', "device-writable header before the frame", true, false, false},
    {'c', "frame beyond RAM", true, false, false},
    {'d', "descriptor loop", true, false, false},
    {'e', "next index beyond the queue", true, false, false},
    {'f', "chain shorter than the header", true, false, true},
    {'g', "zero-length descriptor", true, false, false},
    {'h', "avail head beyond the queue", true, false, false},
    {'i', "indirect table of 17 bytes", true, true, false},
    {'j', "frame then a device-writable buffer", false, false, false},
};
#define BAD_CASES (sizeof(bad_cases) / sizeof(bad_cases[0]))

static void set_desc(volatile struct virtq_desc *t, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    t[i].addr = addr;
    t[i].len = len;
    t[i].flags = flags;
    t[i].next = next;
}

/* Builds case c on the TX queue's descriptors; returns the head to make available. */
static uint16_t build_bad(struct nic *n, unsigned c)
{
    struct virtq *vq = &n->vn->vd->vq[VNET_TXQ];
    volatile struct virtq_desc *t = vq->desc;
    const uint16_t N = VIRTQ_DESC_F_NEXT, W = VIRTQ_DESC_F_WRITE;
    /* A real frame (ARP request for the gateway) after a zeroed header, for the cases that
     * carry one: a device that does not flag the chain transmits something harmless. */
    memset(bad_hdr, 0, sizeof(bad_hdr));
    uint32_t flen = net_build_arp(bad_hdr + VNET_HDR_LEN, ARP_REQUEST, n->mac, n->ip, 0, n->gw);
    memcpy(bad_frame, bad_hdr + VNET_HDR_LEN, flen);
    uint64_t hdr = (uint64_t)(uintptr_t)bad_hdr, frame = (uint64_t)(uintptr_t)bad_frame;
    uint64_t sink = (uint64_t)(uintptr_t)bad_sink;
    switch (bad_cases[c].name) {
    case 'a':
        set_desc(t, 0, sink, VNET_RX_BUF_LEN, W, 0);
        return 0;
    case 'b':
        set_desc(t, 0, sink, VNET_HDR_LEN, W | N, 1);
        set_desc(t, 1, frame, flen, 0, 0);
        return 0;
    case 'c':
        set_desc(t, 0, hdr, VNET_HDR_LEN, N, 1);
        set_desc(t, 1, BAD_ADDR_OUTSIDE, BAD_LEN_OUTSIDE, 0, 0);
        return 0;
    case 'd':
        set_desc(t, 0, hdr, VNET_HDR_LEN, N, 1);
        set_desc(t, 1, frame, flen, N, 0);
        return 0;
    case 'e':
        set_desc(t, 0, hdr, VNET_HDR_LEN, N, (uint16_t)(vq->size + 5));
        return 0;
    case 'f':
        set_desc(t, 0, hdr, 4, 0, 0);
        return 0;
    case 'g':
        set_desc(t, 0, hdr, VNET_HDR_LEN, N, 1);
        set_desc(t, 1, frame, 0, 0, 0);
        return 0;
    case 'h':
        set_desc(t, 0, hdr, VNET_HDR_LEN + flen, 0, 0);
        return (uint16_t)(vq->size + 3);
    case 'i':
        set_desc(bad_itab, 0, hdr, VNET_HDR_LEN + flen, 0, 0);
        set_desc(t, 0, (uint64_t)(uintptr_t)bad_itab, 17, VIRTQ_DESC_F_INDIRECT, 0);
        return 0;
    default: /* 'j' */
        set_desc(t, 0, hdr, VNET_HDR_LEN + flen, N, 1);
        set_desc(t, 1, sink, 64, W, 0);
        return 0;
    }
}

/* e1000: hostile ring values. The 8254x has no way to tell the driver it refused them, so what
 * the device did is only reported (jkvm stops that direction, QEMU goes on in its own way); what
 * must hold is that the VMM survives and that a reset (CTRL.RST) and an ARP exchange work again. */
static bool e1000_settle(struct e1000 *e, uint32_t reg, uint32_t want, uint64_t ms)
{
    uint64_t deadline = rdtsc() + ms * TSC_MAX_PER_MS;
    while (!tsc_passed(deadline)) {
        if (e1000_read(e, reg) == want)
            return true;
        cpu_pause();
    }
    return false;
}

static bool bad_e1000(struct test_result *r, struct nic *n)
{
    static const char names[] = "abcd";
    struct e1000 *e = n->e;
    unsigned recovered = 0;
    for (unsigned c = 0; c < sizeof(names) - 1; c++) {
        if (!nic_reinit(r, n))
            return false;
        detail(r, "%s%c=", r->len ? " " : "", names[c]);
        switch (names[c]) {
        case 'a': {     /* one descriptor whose buffer is beyond RAM */
            volatile struct e1000_tx_desc *d = e1000_tx_desc(e, 0);
            e1000_tx_fill(d, BAD_ADDR_OUTSIDE, (uint16_t)BAD_LEN_OUTSIDE,
                          E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS);
            e1000_write(e, E1000_TDT, 1);
            bool moved = e1000_settle(e, E1000_TDH, 1, 200);
            detail(r, "%s", (d->status & E1000_TXD_STAT_DD) ? "done" : moved ? "skipped" : "stopped");
            break;
        }
        case 'b':       /* TDT beyond the ring */
            e1000_write(e, E1000_TDT, E1000_TX_DESCS + 5);
            (void)e1000_settle(e, E1000_TDH, E1000_TX_DESCS + 5, 200);
            detail(r, "tdh%u", e1000_read(e, E1000_TDH));
            break;
        case 'c':       /* the transmit ring beyond RAM */
            e1000_write(e, E1000_TDBAL, (uint32_t)BAD_ADDR_OUTSIDE);
            e1000_write(e, E1000_TDBAH, (uint32_t)(BAD_ADDR_OUTSIDE >> 32));
            e1000_write(e, E1000_TDT, 1);
            (void)e1000_settle(e, E1000_TDH, 1, 200);
            detail(r, "tdh%u", e1000_read(e, E1000_TDH));
            break;
        case 'd': {     /* RDT beyond the ring, then a frame comes in (the gateway's ARP reply) */
            e1000_write(e, E1000_RDT, E1000_RX_DESCS + 3);
            uint32_t len = net_build_arp(txf, ARP_REQUEST, n->mac, n->ip, 0, n->gw);
            if (!nic_send(r, n, txf, len))
                return false;
            struct pkt p;
            int w = net_wait(r, n, 300, match_arp_reply_any, 0, &p);
            detail(r, "%s", w > 0 ? "received" : "dropped");
            break;
        }
        }
        if (!nic_reinit(r, n))
            return false;
        uint8_t gwmac[ETH_ALEN];
        unsigned tries = 0;
        if (!arp_gateway(r, n, gwmac, &tries))
            return false;
        recovered++;
    }
    detail(r, " recovered=%u/%u", recovered, (unsigned)sizeof(names) - 1);
    return true;
}

bool test_net_bad(struct test_result *r)
{
    struct nic *n = nic_get(r);
    if (!n)
        return false;
    if (n->kind == NIC_E1000)
        return bad_e1000(r, n);
    struct vnet *v = n->vn;
    struct virtio_dev *d = v->vd;
    bool have_msix = msix_open(d->pci, &net_msix) && net_msix.entries >= 1;
    if (have_msix) {
        lapic_sw_enable();
        msix_enable(&net_msix);
    }
    uint64_t short_case = 0;
    cmdline_get_u64("net.badshort", &short_case);
    bool ok = true;
    unsigned resets = 0, must = 0, irqs = 0, irq_checked = 0, recovered = 0;
    uint8_t next_vec = VEC_NET_BAD;
    for (unsigned c = 0; c < BAD_CASES; c++) {
        const struct bad_case *bc = &bad_cases[c];
        if ((bc->needs_indirect && !virtio_has(d, VIRTIO_F_INDIRECT_DESC)) || (bc->opt_in && !short_case))
            continue;
        uint8_t cv = 0;
        if (have_msix && bc->must_reset) {
            cv = fresh_vector(next_vec, VEC_NET_BAD + 15);
            if (cv) {
                next_vec = (uint8_t)(cv + 1);
                msix_set_entry(&net_msix, 0, (uint8_t)cpu_apic_id(), cv);
            }
        }
        d->config_msix = cv ? 0 : VIRTIO_MSI_NO_VECTOR;
        if (!nic_reinit(r, n))
            return false;
        uint16_t head = build_bad(n, c);
        virtq_submit_head(d, VNET_TXQ, head);
        struct virtq_used_elem e = {0};
        enum virtq_result res = virtq_wait(d, VNET_TXQ, VIRTIO_TIMEOUT_MS, &e);
        detail(r, "%s%c=", r->len ? " " : "", bc->name);
        if (bc->must_reset)
            must++;
        if (res == VQ_NEEDS_RESET) {
            resets += bc->must_reset;
            detail(r, "reset");
            if (cv) {
                irq_checked++;
                if (lapic_wait_irr(cv, 1000))
                    irqs++;
                else
                    detail(r, "(no-cfg-irq)");
            }
        } else if (res == VQ_DONE) {
            detail(r, "used");
            if (bc->must_reset)
                ok = fail(r, "(must reset: %s)", bc->what);
        } else {
            detail(r, "timeout(status=0x%x)", virtio_status(d));
            if (bc->must_reset)
                ok = false;
        }
        /* Reset, re-initialise, and ARP must work again. */
        d->config_msix = VIRTIO_MSI_NO_VECTOR;
        if (!nic_reinit(r, n))
            return false;
        uint8_t gwmac[ETH_ALEN];
        unsigned tries = 0;
        if (!arp_gateway(r, n, gwmac, &tries))
            return false;
        recovered++;
    }
    detail(r, " resets=%u/%u cfg_irq=%u/%u recovered=%u", resets, must, irqs, irq_checked, recovered);
    if (irqs != irq_checked)
        ok = fail(r, " (config vector missing after NEEDS_RESET)");
    return ok && resets == must;
}
