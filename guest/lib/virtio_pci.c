#include "lib/virtio_pci.h"
#include "lib/cpu.h"
#include "lib/io.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "lib/tsc.h"

#define PAGE 4096

/* Ring memory: per device slot and queue, one page each for the descriptor table (256 * 16),
 * the available ring (4 + 2 * 256 + 2) and the used ring (4 + 8 * 256 + 2). */
static uint8_t ring_mem[VIRTIO_MAX_DEVS][VIRTIO_MAX_QUEUES][3][PAGE] __attribute__((aligned(PAGE)));
/* One indirect table per device slot (only one chain is in flight at a time). */
static struct virtq_desc indirect[VIRTIO_MAX_DEVS][VIRTQ_MAX_SIZE] __attribute__((aligned(16)));

/* Pool mode bookkeeping, per device slot and queue: the free list (linked here, not through the
 * device-visible descriptors), each head's last descriptor and descriptor count, its token,
 * and one indirect table per possible head. */
struct pool_state {
    uint16_t free_next[VIRTQ_MAX_SIZE];
    uint16_t chain_last[VIRTQ_MAX_SIZE];
    uint16_t chain_count[VIRTQ_MAX_SIZE];
    void *token[VIRTQ_MAX_SIZE];
    struct virtq_desc itab[VIRTQ_MAX_SIZE][VIRTQ_POOL_INDIRECT_MAX] __attribute__((aligned(16)));
};
static struct pool_state pools[VIRTIO_MAX_DEVS][VIRTIO_MAX_QUEUES];

static struct virtio_dev devs[VIRTIO_MAX_DEVS];
static unsigned ndevs;

static struct virtq_desc *indirect_table_for(struct virtio_dev *d) { return indirect[d - devs]; }

static inline void mb(void) { __asm__ volatile("mfence" ::: "memory"); }

static void seterr(struct virtio_dev *d, const char *msg, uint64_t v)
{
    snprintf(d->err, sizeof(d->err), "%s 0x%lx", msg, v);
}

/* ---- common configuration ------------------------------------------------------------ */

static uint8_t c_rd8(struct virtio_dev *d, uint32_t off) { return mmio_read8(d->common + off); }
static uint16_t c_rd16(struct virtio_dev *d, uint32_t off) { return mmio_read16(d->common + off); }
static uint32_t c_rd32(struct virtio_dev *d, uint32_t off) { return mmio_read32(d->common + off); }
static void c_wr8(struct virtio_dev *d, uint32_t off, uint8_t v) { mmio_write8(d->common + off, v); }
static void c_wr16(struct virtio_dev *d, uint32_t off, uint16_t v) { mmio_write16(d->common + off, v); }
static void c_wr32(struct virtio_dev *d, uint32_t off, uint32_t v) { mmio_write32(d->common + off, v); }
/* 64-bit fields are written as two 32-bit halves, low first (virtio 1.2 4.1.3.1). */
static void c_wr64(struct virtio_dev *d, uint32_t off, uint64_t v)
{
    c_wr32(d, off, (uint32_t)v);
    c_wr32(d, off + 4, (uint32_t)(v >> 32));
}

uint8_t virtio_status(struct virtio_dev *d) { return c_rd8(d, VIRTIO_COMMON_STATUS); }

/* ---- discovery ------------------------------------------------------------------------ */

uint16_t virtio_pci_type(const struct pci_func *f)
{
    if (f->vendor != VIRTIO_PCI_VENDOR || f->device < 0x1000 || f->device > 0x107f)
        return 0;
    if (f->device >= 0x1040)
        return f->device - 0x1040;
    /* Transitional: the subsystem device ID carries the virtio device type. */
    return f->subsys_id;
}

bool virtio_pci_caps(const struct pci_func *f, struct virtio_caps *c)
{
    *c = (struct virtio_caps){0};
    uint8_t p = pci_cap_find(f, PCI_CAP_ID_VENDOR, 0);
    for (int n = 0; p && n < 48; n++) {
        uint8_t type = pci_read8(f, p + 3);
        uint8_t bar = pci_read8(f, p + VIRTIO_CAP_BAR);
        uint32_t off = pci_read32(f, p + VIRTIO_CAP_OFFSET);
        uint32_t len = pci_read32(f, p + VIRTIO_CAP_LENGTH);
        /* The first capability of each type with a usable BAR wins (virtio 1.2 4.1.4). */
        if (bar < PCI_MAX_BARS) {
            switch (type) {
            case VIRTIO_PCI_CAP_COMMON_CFG:
                if (!c->common_cap) {
                    c->common_cap = p, c->common_bar = bar, c->common_off = off, c->common_len = len;
                }
                break;
            case VIRTIO_PCI_CAP_NOTIFY_CFG:
                if (!c->notify_cap) {
                    c->notify_cap = p, c->notify_bar = bar, c->notify_off = off, c->notify_len = len;
                    c->notify_mult = pci_read32(f, p + VIRTIO_CAP_NOTIFY_MULT);
                }
                break;
            case VIRTIO_PCI_CAP_ISR_CFG:
                if (!c->isr_cap) {
                    c->isr_cap = p, c->isr_bar = bar, c->isr_off = off, c->isr_len = len;
                }
                break;
            case VIRTIO_PCI_CAP_DEVICE_CFG:
                if (!c->device_cap) {
                    c->device_cap = p, c->device_bar = bar, c->device_off = off, c->device_len = len;
                }
                break;
            default:
                break;
            }
        }
        uint8_t next = pci_cap_next(f, p);
        p = next ? pci_cap_find(f, PCI_CAP_ID_VENDOR, next) : 0;
    }
    return c->common_cap && c->notify_cap && c->isr_cap && c->device_cap;
}

struct pci_func *virtio_pci_find(uint16_t type, unsigned n)
{
    for (unsigned i = 0; i < pci_count(); i++) {
        struct pci_func *f = pci_get(i);
        uint16_t t = virtio_pci_type(f);
        if (t && (type == 0 || t == type) && n-- == 0)
            return f;
    }
    return 0;
}

static bool map_bar(struct virtio_dev *d, uint8_t bar, uint32_t off, uint32_t len, uint64_t *out)
{
    struct pci_func *f = d->pci;
    bool moved = false;
    if (f->bar[bar].type != PCI_BAR_MEM32 && f->bar[bar].type != PCI_BAR_MEM64) {
        seterr(d, "capability in a non-memory BAR", bar);
        return false;
    }
    if (!pci_bar_ensure_assigned(f, bar, &moved)) {
        seterr(d, "cannot assign BAR", bar);
        return false;
    }
    if (moved)
        d->bars_moved++;
    if ((uint64_t)off + len > f->bar[bar].size) {
        seterr(d, "capability beyond its BAR, offset", off);
        return false;
    }
    *out = f->bar[bar].addr + off;
    return true;
}

struct virtio_dev *virtio_open(struct pci_func *f)
{
    struct virtio_dev *d = 0;
    for (unsigned i = 0; i < ndevs; i++)
        if (devs[i].pci->bus == f->bus && devs[i].pci->dev == f->dev && devs[i].pci->fn == f->fn)
            d = &devs[i];
    if (!d) {
        if (ndevs == VIRTIO_MAX_DEVS)
            return 0;
        d = &devs[ndevs++];
        *d = (struct virtio_dev){0};
        d->config_msix = VIRTIO_MSI_NO_VECTOR;
        for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
            d->vq[q].msix = VIRTIO_MSI_NO_VECTOR;
    }
    d->pci = f;
    d->type = virtio_pci_type(f);
    d->err[0] = 0;
    d->common = 0;          /* stays 0 unless every region maps */
    if (!virtio_pci_caps(f, &d->caps)) {
        seterr(d, "missing virtio capability, have common/notify/isr/device", 0);
        return d;
    }
    struct virtio_caps *c = &d->caps;
    if (!map_bar(d, c->common_bar, c->common_off, c->common_len, &d->common) ||
        !map_bar(d, c->notify_bar, c->notify_off, c->notify_len, &d->notify) ||
        !map_bar(d, c->isr_bar, c->isr_off, c->isr_len, &d->isr) ||
        !map_bar(d, c->device_bar, c->device_off, c->device_len, &d->device)) {
        d->common = 0;
        return d;
    }
    if (c->common_len < 0x38) {
        seterr(d, "common cfg too short", c->common_len);
        d->common = 0;
        return d;
    }
    pci_enable(f, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    return d;
}

/* ---- initialisation ------------------------------------------------------------------- */

static bool wait_status(struct virtio_dev *d, uint8_t mask, uint8_t want)
{
    uint64_t deadline = rdtsc() + VIRTIO_TIMEOUT_MS * TSC_MAX_PER_MS;
    while ((virtio_status(d) & mask) != want) {
        if (tsc_passed(deadline))
            return false;
        cpu_pause();
    }
    return true;
}

bool virtio_reset(struct virtio_dev *d)
{
    if (!d->common) {
        if (!d->err[0])
            seterr(d, "device not mapped", 0);
        return false;
    }
    c_wr8(d, VIRTIO_COMMON_STATUS, 0);
    if (!wait_status(d, 0xff, 0)) {
        seterr(d, "status did not read 0 after reset, reads", virtio_status(d));
        return false;
    }
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        d->vq[q].size = 0;
    return true;
}

static void set_status(struct virtio_dev *d, uint8_t bits)
{
    c_wr8(d, VIRTIO_COMMON_STATUS, virtio_status(d) | bits);
}

static bool setup_queue(struct virtio_dev *d, unsigned q)
{
    struct virtq *vq = &d->vq[q];
    unsigned slot = (unsigned)(d - devs);
    c_wr16(d, VIRTIO_COMMON_Q_SELECT, (uint16_t)q);
    uint16_t max = c_rd16(d, VIRTIO_COMMON_Q_SIZE);
    if (max == 0) {
        seterr(d, "queue not available:", q);
        return false;
    }
    uint16_t size = VIRTQ_MAX_SIZE;
    while (size > max)
        size >>= 1;
    if (size < 4) {
        seterr(d, "queue too small:", max);
        return false;
    }
    if (size != max)
        c_wr16(d, VIRTIO_COMMON_Q_SIZE, size);

    memset(ring_mem[slot][q], 0, sizeof(ring_mem[slot][q]));
    vq->index = (uint16_t)q;
    vq->size = size;
    vq->desc = (volatile struct virtq_desc *)ring_mem[slot][q][0];
    vq->avail = (volatile struct virtq_avail *)ring_mem[slot][q][1];
    vq->used = (volatile struct virtq_used *)ring_mem[slot][q][2];
    vq->avail_idx = 0;
    vq->last_used = 0;
    vq->pool = false;
    vq->no_irq = false;
    vq->free_head = 0;
    vq->num_free = 0;
    vq->num_added = 0;
    vq->kicks = 0;
    vq->kicks_saved = 0;

    c_wr64(d, VIRTIO_COMMON_Q_DESCLO, (uint64_t)(uintptr_t)vq->desc);
    c_wr64(d, VIRTIO_COMMON_Q_AVAILLO, (uint64_t)(uintptr_t)vq->avail);
    c_wr64(d, VIRTIO_COMMON_Q_USEDLO, (uint64_t)(uintptr_t)vq->used);
    c_wr16(d, VIRTIO_COMMON_Q_MSIX, vq->msix);
    uint16_t got = c_rd16(d, VIRTIO_COMMON_Q_MSIX);
    if (got != vq->msix) {
        seterr(d, "queue MSI-X vector rejected, reads", got);
        return false;
    }
    vq->notify_off = c_rd16(d, VIRTIO_COMMON_Q_NOFF);
    uint64_t noff = (uint64_t)vq->notify_off * d->caps.notify_mult;
    if (noff + 2 > d->caps.notify_len) {
        seterr(d, "notify offset beyond the notify region:", noff);
        return false;
    }
    vq->notify_addr = d->notify + noff;
    c_wr16(d, VIRTIO_COMMON_Q_ENABLE, 1);
    if (c_rd16(d, VIRTIO_COMMON_Q_ENABLE) != 1) {
        seterr(d, "queue_enable does not read 1, queue", q);
        return false;
    }
    return true;
}

static bool init_fail(struct virtio_dev *d)
{
    set_status(d, VIRTIO_STATUS_FAILED);
    return false;
}

bool virtio_init(struct virtio_dev *d, uint64_t wanted, unsigned nq)
{
    d->wanted = wanted | VIRTIO_BIT(VIRTIO_F_VERSION_1);
    d->nq = nq;
    d->features = 0;
    if (nq > VIRTIO_MAX_QUEUES) {
        seterr(d, "too many queues asked for:", nq);
        return false;
    }
    if (!virtio_reset(d))
        return false;
    set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
    set_status(d, VIRTIO_STATUS_DRIVER);

    c_wr32(d, VIRTIO_COMMON_DFSELECT, 0);
    uint64_t lo = c_rd32(d, VIRTIO_COMMON_DF);
    c_wr32(d, VIRTIO_COMMON_DFSELECT, 1);
    uint64_t hi = c_rd32(d, VIRTIO_COMMON_DF);
    d->offered = lo | hi << 32;
    if (!(d->offered & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
        seterr(d, "VERSION_1 not offered, features", d->offered);
        return init_fail(d);
    }
    d->features = d->offered & d->wanted;
    c_wr32(d, VIRTIO_COMMON_GFSELECT, 0);
    c_wr32(d, VIRTIO_COMMON_GF, (uint32_t)d->features);
    c_wr32(d, VIRTIO_COMMON_GFSELECT, 1);
    c_wr32(d, VIRTIO_COMMON_GF, (uint32_t)(d->features >> 32));
    set_status(d, VIRTIO_STATUS_FEATURES_OK);
    uint8_t st = virtio_status(d);
    if (!(st & VIRTIO_STATUS_FEATURES_OK)) {
        seterr(d, "FEATURES_OK did not stick, status", st);
        return init_fail(d);
    }

    d->num_queues = c_rd16(d, VIRTIO_COMMON_NUMQ);
    if (nq > d->num_queues) {
        seterr(d, "device has too few queues:", d->num_queues);
        return init_fail(d);
    }
    c_wr16(d, VIRTIO_COMMON_MSIX, d->config_msix);
    uint16_t got = c_rd16(d, VIRTIO_COMMON_MSIX);
    if (got != d->config_msix) {
        seterr(d, "config MSI-X vector rejected, reads", got);
        return init_fail(d);
    }
    for (unsigned q = 0; q < nq; q++)
        if (!setup_queue(d, q))
            return init_fail(d);
    set_status(d, VIRTIO_STATUS_DRIVER_OK);
    st = virtio_status(d);
    if ((st & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)) !=
        VIRTIO_STATUS_DRIVER_OK) {
        seterr(d, "bad status after DRIVER_OK:", st);
        return false;
    }
    return true;
}

bool virtio_reinit(struct virtio_dev *d) { return virtio_init(d, d->wanted, d->nq); }

/* ---- device configuration ------------------------------------------------------------- */

uint8_t virtio_cfg_read8(struct virtio_dev *d, uint32_t off) { return mmio_read8(d->device + off); }
uint16_t virtio_cfg_read16(struct virtio_dev *d, uint32_t off) { return mmio_read16(d->device + off); }
uint32_t virtio_cfg_read32(struct virtio_dev *d, uint32_t off) { return mmio_read32(d->device + off); }

uint64_t virtio_cfg_read64(struct virtio_dev *d, uint32_t off)
{
    uint64_t v = 0;
    for (int tries = 0; tries < 100; tries++) {
        uint8_t gen = c_rd8(d, VIRTIO_COMMON_CFGGEN);
        uint64_t lo = mmio_read32(d->device + off);
        uint64_t hi = mmio_read32(d->device + off + 4);
        v = lo | hi << 32;
        if (c_rd8(d, VIRTIO_COMMON_CFGGEN) == gen)
            break;
    }
    return v;
}

/* ---- virtqueues ----------------------------------------------------------------------- */

void virtq_submit_head(struct virtio_dev *d, unsigned q, uint16_t head)
{
    struct virtq *vq = &d->vq[q];
    if (vq->pool)
        return;
    vq->avail->ring[vq->avail_idx & (vq->size - 1)] = head;
    /* used_event (after the ring): ask for an interrupt when this chain is used. */
    if (virtio_has(d, VIRTIO_F_EVENT_IDX))
        vq->avail->ring[vq->size] = vq->last_used;
    mb();
    vq->avail_idx++;
    vq->avail->idx = vq->avail_idx;
    mb();
    mmio_write16(vq->notify_addr, vq->index);
}

bool virtq_submit_chain(struct virtio_dev *d, unsigned q, const struct virtio_buf *bufs, unsigned n,
                        bool indirect)
{
    struct virtq *vq = &d->vq[q];
    if (n == 0 || n > vq->size || q >= d->nq || vq->pool)
        return false;
    if (indirect) {
        if (!virtio_has(d, VIRTIO_F_INDIRECT_DESC))
            return false;
        struct virtq_desc *t = indirect_table_for(d);
        for (unsigned i = 0; i < n; i++) {
            t[i].addr = bufs[i].addr;
            t[i].len = bufs[i].len;
            t[i].flags = (uint16_t)((bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
            t[i].next = (uint16_t)(i + 1 < n ? i + 1 : 0);
        }
        vq->desc[0].addr = (uint64_t)(uintptr_t)t;
        vq->desc[0].len = (uint32_t)(n * sizeof(struct virtq_desc));
        vq->desc[0].flags = VIRTQ_DESC_F_INDIRECT;
        vq->desc[0].next = 0;
    } else {
        for (unsigned i = 0; i < n; i++) {
            vq->desc[i].addr = bufs[i].addr;
            vq->desc[i].len = bufs[i].len;
            vq->desc[i].flags =
                (uint16_t)((bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
            vq->desc[i].next = (uint16_t)(i + 1 < n ? i + 1 : 0);
        }
    }
    virtq_submit_head(d, q, 0);
    return true;
}

enum virtq_result virtq_wait(struct virtio_dev *d, unsigned q, uint64_t timeout_ms, struct virtq_used_elem *out)
{
    struct virtq *vq = &d->vq[q];
    uint64_t deadline = rdtsc() + timeout_ms * TSC_MAX_PER_MS;
    for (unsigned n = 0;; n++) {
        if (vq->used->idx != vq->last_used) {
            mb();
            volatile struct virtq_used_elem *e = &vq->used->ring[vq->last_used & (vq->size - 1)];
            if (out) {
                out->id = e->id;
                out->len = e->len;
            }
            vq->last_used++;
            return VQ_DONE;
        }
        /* Status reads are MMIO exits: look at it only now and then. */
        if ((n & 255) == 255 && virtio_needs_reset(d))
            return VQ_NEEDS_RESET;
        if (tsc_passed(deadline))
            return virtio_needs_reset(d) ? VQ_NEEDS_RESET : VQ_TIMEOUT;
        cpu_pause();
    }
}

/* ---- pool mode ------------------------------------------------------------------------ */

static struct pool_state *pool_of(struct virtio_dev *d, unsigned q) { return &pools[d - devs][q]; }

/* vring_need_event (virtio 1.2 2.7.10): whether moving an index from old to new passed event. */
static inline bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/* used_event sits after avail->ring[size], avail_event after used->ring[size]. */
static inline volatile uint16_t *used_event_of(struct virtq *vq) { return &vq->avail->ring[vq->size]; }
static inline volatile uint16_t *avail_event_of(struct virtq *vq)
{
    return (volatile uint16_t *)&vq->used->ring[vq->size];
}

bool virtq_pool_init(struct virtio_dev *d, unsigned q)
{
    struct virtq *vq = &d->vq[q];
    if (q >= d->nq || vq->size == 0 || virtq_outstanding(d, q) != 0)
        return false;
    struct pool_state *p = pool_of(d, q);
    for (unsigned i = 0; i < vq->size; i++) {
        p->free_next[i] = (uint16_t)(i + 1);
        p->token[i] = 0;
    }
    vq->free_head = 0;
    vq->num_free = vq->size;
    vq->num_added = 0;
    vq->kicks = 0;
    vq->kicks_saved = 0;
    vq->pool = true;
    return true;
}

int virtq_add(struct virtio_dev *d, unsigned q, const struct virtio_buf *bufs, unsigned n, bool indirect, void *token)
{
    struct virtq *vq = &d->vq[q];
    struct pool_state *p = pool_of(d, q);
    if (!vq->pool || n == 0 || !token)
        return -1;
    bool ind = indirect && n > 1 && n <= VIRTQ_POOL_INDIRECT_MAX && virtio_has(d, VIRTIO_F_INDIRECT_DESC);
    unsigned need = ind ? 1 : n;
    if (vq->num_free < need)
        return -1;
    uint16_t head = vq->free_head;
    if (ind) {
        struct virtq_desc *t = p->itab[head];
        for (unsigned i = 0; i < n; i++) {
            t[i].addr = bufs[i].addr;
            t[i].len = bufs[i].len;
            t[i].flags = (uint16_t)((bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
            t[i].next = (uint16_t)(i + 1);
        }
        vq->desc[head].addr = (uint64_t)(uintptr_t)t;
        vq->desc[head].len = (uint32_t)(n * sizeof(struct virtq_desc));
        vq->desc[head].flags = VIRTQ_DESC_F_INDIRECT;
        vq->desc[head].next = 0;
        p->chain_last[head] = head;
        vq->free_head = p->free_next[head];
    } else {
        uint16_t i = head, last = head;
        for (unsigned k = 0; k < n; k++) {
            vq->desc[i].addr = bufs[k].addr;
            vq->desc[i].len = bufs[k].len;
            vq->desc[i].flags = (uint16_t)((bufs[k].write ? VIRTQ_DESC_F_WRITE : 0) | (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
            vq->desc[i].next = p->free_next[i];
            last = i;
            i = p->free_next[i];
        }
        p->chain_last[head] = last;
        vq->free_head = i;
    }
    p->chain_count[head] = (uint16_t)need;
    p->token[head] = token;
    vq->num_free = (uint16_t)(vq->num_free - need);
    /* Descriptors (and the indirect table) before the ring entry, the entry before the index:
     * x86 keeps stores in order, so a compiler barrier is enough (Linux: virtio_wmb). */
    vq->avail->ring[vq->avail_idx & (vq->size - 1)] = head;
    barrier();
    vq->avail_idx++;
    vq->avail->idx = vq->avail_idx;
    vq->num_added++;
    return head;
}

bool virtq_kick_prepare(struct virtio_dev *d, unsigned q)
{
    struct virtq *vq = &d->vq[q];
    if (vq->no_irq && virtio_has(d, VIRTIO_F_EVENT_IDX))
        *used_event_of(vq) = (uint16_t)(vq->last_used - 0x8000);
    if (vq->num_added == 0)
        return false;
    /* The index store must be visible before avail_event / used->flags is read (store-load). */
    mb();
    uint16_t new_idx = vq->avail_idx, old = (uint16_t)(new_idx - vq->num_added);
    vq->num_added = 0;
    bool kick = virtio_has(d, VIRTIO_F_EVENT_IDX) ? need_event(*avail_event_of(vq), new_idx, old)
                                                  : !(vq->used->flags & VRING_USED_F_NO_NOTIFY);
    if (!kick)
        vq->kicks_saved++;
    return kick;
}

void virtq_notify(struct virtio_dev *d, unsigned q)
{
    struct virtq *vq = &d->vq[q];
    vq->kicks++;
    mmio_write16(vq->notify_addr, vq->index);
}

int virtq_get_buf(struct virtio_dev *d, unsigned q, void **token, uint32_t *len)
{
    struct virtq *vq = &d->vq[q];
    if (vq->used->idx == vq->last_used)
        return 0;
    barrier();  /* the entry is read after the index (x86 does not reorder loads) */
    volatile struct virtq_used_elem *e = &vq->used->ring[vq->last_used & (vq->size - 1)];
    uint32_t id = e->id;
    struct pool_state *p = pool_of(d, q);
    if (id >= vq->size || !p->token[id])
        return -1;
    *len = e->len;
    *token = p->token[id];
    p->token[id] = 0;
    vq->last_used++;
    p->free_next[p->chain_last[id]] = vq->free_head;
    vq->free_head = (uint16_t)id;
    vq->num_free = (uint16_t)(vq->num_free + p->chain_count[id]);
    if (vq->no_irq && virtio_has(d, VIRTIO_F_EVENT_IDX))
        *used_event_of(vq) = (uint16_t)(vq->last_used - 0x8000);
    return 1;
}

void virtq_disable_irq(struct virtio_dev *d, unsigned q)
{
    struct virtq *vq = &d->vq[q];
    vq->no_irq = true;
    if (virtio_has(d, VIRTIO_F_EVENT_IDX)) {
        /* With EVENT_IDX the flags field must stay 0; used_event alone decides. */
        vq->avail->flags = 0;
        *used_event_of(vq) = (uint16_t)(vq->last_used - 0x8000);
    } else {
        vq->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
    }
    mb();
}
