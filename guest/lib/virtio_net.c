#include "lib/virtio_net.h"
#include "lib/cmdline.h"
#include "lib/io.h"
#include "lib/printf.h"
#include "lib/string.h"

#define VNET_MAX_DEVS 2

static struct vnet vnets[VNET_MAX_DEVS];

/* Receive buffers: 2 KiB slots, VNET_RX_BUF_LEN bytes of each posted. */
static uint8_t rx_bufs[VNET_MAX_DEVS][VNET_RX_BUFS][2048] __attribute__((aligned(4096)));
/* Transmit: header + frame contiguous (one descriptor), or the frame apart (split). */
static uint8_t tx_buf[VNET_HDR_LEN + ETH_FRAME_MAX] __attribute__((aligned(64)));
static uint8_t tx_frame[ETH_FRAME_MAX] __attribute__((aligned(64)));
/* Control queue request: class, command, argument, ack (each in its own descriptor). */
static uint8_t ctrl_hdr[2] __attribute__((aligned(16)));
static uint8_t ctrl_arg __attribute__((aligned(16)));
static volatile uint8_t ctrl_ack __attribute__((aligned(16)));

static void seterr(struct vnet *n, const char *fmt, uint64_t a, uint64_t b)
{
    snprintf(n->err, sizeof(n->err), fmt, a, b);
}

static uint8_t (*slot_bufs(struct vnet *n))[2048] { return rx_bufs[n - vnets]; }

static volatile uint16_t *used_event(struct virtq *vq) { return &vq->avail->ring[vq->size]; }

static bool post_rx(struct vnet *n, uint8_t *b)
{
    struct virtio_buf vb = {(uint64_t)(uintptr_t)b, VNET_RX_BUF_LEN, true};
    return virtq_add(n->vd, VNET_RXQ, &vb, 1, false, b) >= 0;
}

static void kick_rx(struct vnet *n)
{
    if (virtq_kick_prepare(n->vd, VNET_RXQ))
        virtq_notify(n->vd, VNET_RXQ);
}

uint8_t vnet_ctrl(struct vnet *n, uint8_t cls, uint8_t cmd, uint8_t arg)
{
    struct virtio_dev *d = n->vd;
    ctrl_hdr[0] = cls;
    ctrl_hdr[1] = cmd;
    ctrl_arg = arg;
    ctrl_ack = 0xff;
    struct virtio_buf b[3] = {{(uint64_t)(uintptr_t)ctrl_hdr, 2, false},
                              {(uint64_t)(uintptr_t)&ctrl_arg, 1, false},
                              {(uint64_t)(uintptr_t)&ctrl_ack, 1, true}};
    if (!virtq_submit_chain(d, VNET_CTRLQ, b, 3, false))
        return 0xff;
    struct virtq_used_elem e;
    if (virtq_wait(d, VNET_CTRLQ, VIRTIO_TIMEOUT_MS, &e) != VQ_DONE)
        return 0xff;
    return ctrl_ack;
}

/* MAC bytes one by one, repeated until config_generation is stable (virtio 1.2 4.1.3.1). */
static void read_mac(struct vnet *n)
{
    struct virtio_dev *d = n->vd;
    for (int tries = 0; tries < 100; tries++) {
        uint8_t gen = mmio_read8(d->common + VIRTIO_COMMON_CFGGEN);
        for (int i = 0; i < ETH_ALEN; i++)
            n->mac[i] = virtio_cfg_read8(d, VIRTIO_NET_CFG_MAC + (uint32_t)i);
        if (mmio_read8(d->common + VIRTIO_COMMON_CFGGEN) == gen)
            break;
    }
}

bool vnet_init(struct vnet *n)
{
    struct virtio_dev *d = n->vd;
    n->ready = false;
    n->err[0] = 0;
    n->promisc_off = false;
    unsigned nq = (n->wanted & VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ)) ? 3 : 2;
    if (!virtio_init(d, n->wanted, nq)) {
        /* A device without enough queues for the control queue: drop CTRL_VQ and retry. */
        if (nq == 3 && !virtio_has(d, VIRTIO_NET_F_CTRL_VQ) && d->offered) {
            n->wanted &= ~(VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX));
            return vnet_init(n);
        }
        seterr(n, "virtio init failed", 0, 0);
        snprintf(n->err, sizeof(n->err), "%s", d->err);
        return false;
    }
    /* The driver asked for CTRL_VQ without knowing the offer: if it was not offered, set the
     * device up again with two queues only. */
    if (nq == 3 && !virtio_has(d, VIRTIO_NET_F_CTRL_VQ)) {
        n->wanted &= ~(VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX));
        return vnet_init(n);
    }

    if (virtio_has(d, VIRTIO_NET_F_MAC)) {
        read_mac(n);
    } else {
        static const uint8_t local[ETH_ALEN] = {0x02, 0x6a, 0x6b, 0x76, 0x6d, 0x01};
        memcpy(n->mac, local, ETH_ALEN);
        n->mac[5] = (uint8_t)(n->mac[5] + (n - vnets));
    }
    n->status = virtio_has(d, VIRTIO_NET_F_STATUS) ? virtio_cfg_read16(d, VIRTIO_NET_CFG_STATUS)
                                                   : VIRTIO_NET_S_LINK_UP;
    n->max_pairs = virtio_has(d, VIRTIO_NET_F_MQ) ? virtio_cfg_read16(d, VIRTIO_NET_CFG_MAX_PAIRS) : 0;
    n->mtu = virtio_has(d, VIRTIO_NET_F_MTU) ? virtio_cfg_read16(d, VIRTIO_NET_CFG_MTU) : 0;

    /* Receive queue: pool mode, every buffer posted, one notify. */
    if (!virtq_pool_init(d, VNET_RXQ)) {
        seterr(n, "rx queue pool init failed", 0, 0);
        return false;
    }
    struct virtq *rxq = &d->vq[VNET_RXQ];
    unsigned want = n->rx_area ? n->rx_count : VNET_RX_BUFS;
    if (want > rxq->size)
        want = rxq->size;
    for (n->rx_posted = 0; n->rx_posted < want; n->rx_posted++) {
        uint8_t *b = n->rx_area ? (uint8_t *)(uintptr_t)(n->rx_area + (uint64_t)n->rx_posted * n->rx_stride)
                                : slot_bufs(n)[n->rx_posted];
        memset(b, 0, VNET_HDR_LEN);
        if (!post_rx(n, b)) {
            seterr(n, "cannot post rx buffer %lu", n->rx_posted, 0);
            return false;
        }
    }
    if (n->rx_irq) {
        rxq->no_irq = false;
        rxq->avail->flags = 0;
        *used_event(rxq) = rxq->last_used;
    } else {
        virtq_disable_irq(d, VNET_RXQ);
    }
    kick_rx(n);

    if (virtio_has(d, VIRTIO_NET_F_CTRL_RX)) {
        uint8_t a = vnet_ctrl(n, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0);
        uint8_t b = a == VIRTIO_NET_OK ? vnet_ctrl(n, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, 0) : 0xff;
        if (a != VIRTIO_NET_OK || b != VIRTIO_NET_OK) {
            seterr(n, "CTRL_RX promisc/allmulti off: ack 0x%lx/0x%lx", a, b);
            return false;
        }
        n->promisc_off = true;
    }
    n->ready = true;
    return true;
}

struct vnet *vnet_get(unsigned idx, char *err, size_t errlen)
{
    if (pci_count() == 0)
        pci_scan();
    struct pci_func *f = virtio_pci_find(VIRTIO_ID_NET, idx);
    if (!f) {
        snprintf(err, errlen, "no virtio-net device");
        return 0;
    }
    struct virtio_dev *d = virtio_open(f);
    if (!d) {
        snprintf(err, errlen, "too many virtio devices");
        return 0;
    }
    struct vnet *n = 0;
    for (unsigned i = 0; i < VNET_MAX_DEVS && !n; i++)
        if (vnets[i].vd == d || !vnets[i].vd)
            n = &vnets[i];
    if (!n) {
        snprintf(err, errlen, "too many virtio-net devices");
        return 0;
    }
    if (!n->vd) {
        n->vd = d;
        n->wanted = VNET_WANTED_FEATURES;
        uint64_t v;
        if (cmdline_get_u64("net.mrg", &v) && !v)
            n->wanted &= ~VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
        if (cmdline_get_u64("net.ctrl", &v) && !v)
            n->wanted &= ~(VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX));
        if (cmdline_get_u64("net.evidx", &v) && !v)
            n->wanted &= ~VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
        if (cmdline_get_u64("net.indirect", &v) && !v)
            n->wanted &= ~VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
    }
    if (!n->ready && !vnet_init(n)) {
        snprintf(err, errlen, "virtio-net %02x:%02x.%x: %s", f->bus, f->dev, f->fn, n->err);
        return 0;
    }
    return n;
}

bool vnet_send(struct vnet *n, const void *frame, uint32_t len, bool split)
{
    struct virtio_dev *d = n->vd;
    if (len > ETH_FRAME_MAX) {
        seterr(n, "frame of %lu bytes too long", len, 0);
        return false;
    }
    memset(tx_buf, 0, VNET_HDR_LEN);
    struct virtio_buf b[2];
    unsigned nb;
    if (split) {
        memcpy(tx_frame, frame, len);
        b[0] = (struct virtio_buf){(uint64_t)(uintptr_t)tx_buf, VNET_HDR_LEN, false};
        b[1] = (struct virtio_buf){(uint64_t)(uintptr_t)tx_frame, len, false};
        nb = 2;
    } else {
        memcpy(tx_buf + VNET_HDR_LEN, frame, len);
        b[0] = (struct virtio_buf){(uint64_t)(uintptr_t)tx_buf, VNET_HDR_LEN + len, false};
        nb = 1;
    }
    if (!virtq_submit_chain(d, VNET_TXQ, b, nb, false)) {
        seterr(n, "tx submit failed", 0, 0);
        return false;
    }
    struct virtq_used_elem e = {0xffffffffu, 0};
    enum virtq_result r = virtq_wait(d, VNET_TXQ, VIRTIO_TIMEOUT_MS, &e);
    if (r != VQ_DONE) {
        seterr(n, r == VQ_NEEDS_RESET ? "tx: device needs reset (status 0x%lx)" : "tx: not used in time (status 0x%lx)",
               virtio_status(d), 0);
        return false;
    }
    if (e.id != 0) {
        seterr(n, "tx: used id %lu, want 0", e.id, 0);
        return false;
    }
    n->tx_frames++;
    return true;
}

int vnet_recv(struct vnet *n, void *buf, uint32_t max)
{
    struct virtio_dev *d = n->vd;
    void *token;
    uint32_t len;
    int g = virtq_get_buf(d, VNET_RXQ, &token, &len);
    if (g == 0)
        return 0;
    if (g < 0) {
        seterr(n, "rx: used id not an outstanding buffer (used idx %lu)", d->vq[VNET_RXQ].used->idx, 0);
        return -1;
    }
    uint8_t *b = token;
    int ret;
    if (len < VNET_HDR_LEN + ETH_HLEN || len > VNET_RX_BUF_LEN) {
        seterr(n, "rx: used length %lu outside [26, 1526]", len, 0);
        ret = -1;
    } else {
        const struct virtio_net_hdr_v1 *h = (const void *)b;
        n->last_num_buffers = h->num_buffers;
        if (virtio_has(d, VIRTIO_NET_F_MRG_RXBUF) && h->num_buffers != 1) {
            seterr(n, "rx: num_buffers %lu for a %lu-byte frame, want 1", h->num_buffers, len - VNET_HDR_LEN);
            ret = -1;
        } else {
            uint32_t fl = len - VNET_HDR_LEN;
            memcpy(buf, b + VNET_HDR_LEN, fl < max ? fl : max);
            ret = (int)fl;
            n->rx_frames++;
        }
    }
    memset(b, 0, VNET_HDR_LEN);
    if (!post_rx(n, b)) {
        seterr(n, "rx: cannot repost buffer", 0, 0);
        return -1;
    }
    if (n->rx_irq)
        *used_event(&d->vq[VNET_RXQ]) = d->vq[VNET_RXQ].last_used;
    kick_rx(n);
    return ret;
}
