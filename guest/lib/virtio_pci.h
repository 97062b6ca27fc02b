/* Polling virtio-pci driver, modern interface only (virtio 1.2 section 4.1), with split
 * virtqueues in static page-aligned memory. Transitional (0x1000-0x103f) and modern
 * (0x1040+) device IDs are both driven through the vendor capabilities, never the legacy
 * I/O BAR. Interrupts are never taken: completion is found by polling the used ring; MSI-X
 * vectors can be assigned so a test can look for them in the local APIC IRR. */
#ifndef LIB_VIRTIO_PCI_H
#define LIB_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>
#include "lib/pci.h"

#define VIRTIO_PCI_VENDOR 0x1af4

/* Device types (virtio 1.2 section 5). */
#define VIRTIO_ID_NET     1
#define VIRTIO_ID_BLOCK   2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG     4

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER      0x02
#define VIRTIO_STATUS_DRIVER_OK   0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

/* Transport feature bits. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED   34
#define VIRTIO_BIT(n) (1ull << (n))

/* Vendor capability (struct virtio_pci_cap) and its cfg_type values. */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG    3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG    5

#define VIRTIO_CAP_BAR     4    /* offsets inside the capability */
#define VIRTIO_CAP_OFFSET  8
#define VIRTIO_CAP_LENGTH  12
#define VIRTIO_CAP_NOTIFY_MULT 16

/* struct virtio_pci_common_cfg offsets. */
#define VIRTIO_COMMON_DFSELECT   0x00
#define VIRTIO_COMMON_DF         0x04
#define VIRTIO_COMMON_GFSELECT   0x08
#define VIRTIO_COMMON_GF         0x0c
#define VIRTIO_COMMON_MSIX       0x10
#define VIRTIO_COMMON_NUMQ       0x12
#define VIRTIO_COMMON_STATUS     0x14
#define VIRTIO_COMMON_CFGGEN     0x15
#define VIRTIO_COMMON_Q_SELECT   0x16
#define VIRTIO_COMMON_Q_SIZE     0x18
#define VIRTIO_COMMON_Q_MSIX     0x1a
#define VIRTIO_COMMON_Q_ENABLE   0x1c
#define VIRTIO_COMMON_Q_NOFF     0x1e
#define VIRTIO_COMMON_Q_DESCLO   0x20
#define VIRTIO_COMMON_Q_DESCHI   0x24
#define VIRTIO_COMMON_Q_AVAILLO  0x28
#define VIRTIO_COMMON_Q_AVAILHI  0x2c
#define VIRTIO_COMMON_Q_USEDLO   0x30
#define VIRTIO_COMMON_Q_USEDHI   0x34

#define VIRTIO_MSI_NO_VECTOR 0xffff

/* Split virtqueue layout (virtio 1.2 section 2.7). */
#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
#define VRING_USED_F_NO_NOTIFY     1    /* used->flags: device asks for no kicks (no EVENT_IDX) */
#define VRING_AVAIL_F_NO_INTERRUPT 1    /* avail->flags: driver asks for no interrupts (no EVENT_IDX) */

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];        /* [size], then used_event */
};

struct virtq_used_elem {
    uint32_t id;
    uint32_t len;
};

struct virtq_used {
    uint16_t flags;
    uint16_t idx;
    struct virtq_used_elem ring[];  /* [size], then avail_event */
};

#define VIRTQ_MAX_SIZE 256      /* the driver uses at most this many entries per queue */
#define VIRTIO_MAX_QUEUES 3     /* queues the driver sets up per device (virtio-net: rx, tx, ctrl) */
#define VIRTIO_MAX_DEVS 4

/* Wait budget for one request or one status change: at least this long (lib/tsc.h). */
#define VIRTIO_TIMEOUT_MS 5000

struct virtq {
    uint16_t index;
    uint16_t size;              /* 0: not set up */
    uint16_t msix;              /* MSI-X table entry for this queue, or VIRTIO_MSI_NO_VECTOR */
    uint16_t notify_off;
    uint16_t avail_idx;         /* driver's copy of avail->idx */
    uint16_t last_used;         /* used entries consumed so far */
    volatile struct virtq_desc *desc;
    volatile struct virtq_avail *avail;
    volatile struct virtq_used *used;
    uint64_t notify_addr;
    /* Pool mode (virtq_pool_init): several chains in flight, descriptors from a free list. */
    bool pool;
    bool no_irq;                /* virtq_disable_irq: keep the device from interrupting */
    uint16_t free_head;         /* first free descriptor (list linked through a private shadow) */
    uint16_t num_free;
    uint16_t num_added;         /* chains published since the last virtq_kick_prepare */
    uint64_t kicks;             /* notifies written (pool mode) */
    uint64_t kicks_saved;       /* notifies skipped because of avail_event / NO_NOTIFY */
};

/* Where the modern capabilities point. */
struct virtio_caps {
    uint8_t common_cap, notify_cap, isr_cap, device_cap;    /* config offsets, 0 = missing */
    uint8_t common_bar, notify_bar, isr_bar, device_bar;
    uint32_t common_off, notify_off, isr_off, device_off;
    uint32_t common_len, notify_len, isr_len, device_len;
    uint32_t notify_mult;
};

struct virtio_dev {
    struct pci_func *pci;
    uint16_t type;              /* VIRTIO_ID_* */
    struct virtio_caps caps;
    uint64_t common, notify, isr, device;   /* absolute MMIO addresses */
    uint64_t offered;           /* device features */
    uint64_t wanted;            /* what the last init asked for (VERSION_1 always added) */
    uint64_t features;          /* negotiated = offered & wanted */
    uint16_t num_queues;        /* device's num_queues */
    unsigned nq;                /* queues set up by the driver */
    uint16_t config_msix;       /* MSI-X entry for config changes, or VIRTIO_MSI_NO_VECTOR */
    unsigned bars_moved;        /* BARs this driver had to (re)assign */
    struct virtq vq[VIRTIO_MAX_QUEUES];
    char err[96];               /* why the last call failed */
};

enum virtq_result { VQ_DONE = 0, VQ_TIMEOUT, VQ_NEEDS_RESET };

/* Virtio device type of a PCI function (0 if not a virtio device). */
uint16_t virtio_pci_type(const struct pci_func *f);
/* Parses the vendor capabilities; false if common, notify, ISR or device cfg is missing. */
bool virtio_pci_caps(const struct pci_func *f, struct virtio_caps *c);
/* The n-th scanned virtio function of this type (0 = any), or NULL. Call pci_scan first. */
struct pci_func *virtio_pci_find(uint16_t type, unsigned n);

/* Binds (or returns the existing binding of) a PCI function: enables memory decoding and bus
 * mastering, assigns BARs the capabilities need if the firmware left them unassigned or
 * above 4 GiB, and maps the capability regions. Does not touch the device status. */
struct virtio_dev *virtio_open(struct pci_func *f);

/* Writes status 0 and waits until it reads back 0. */
bool virtio_reset(struct virtio_dev *d);
uint8_t virtio_status(struct virtio_dev *d);
static inline bool virtio_needs_reset(struct virtio_dev *d)
{
    return virtio_status(d) & VIRTIO_STATUS_NEEDS_RESET;
}
/* Full initialisation: reset, ACKNOWLEDGE, DRIVER, features (offered & wanted, VERSION_1
 * required), FEATURES_OK (checked), `nq` queues set up with their MSI-X entries, DRIVER_OK. */
bool virtio_init(struct virtio_dev *d, uint64_t wanted, unsigned nq);
/* virtio_init again with the same features, queues and MSI-X entries. */
bool virtio_reinit(struct virtio_dev *d);
static inline bool virtio_has(const struct virtio_dev *d, unsigned bit) { return d->features & VIRTIO_BIT(bit); }

/* Device-specific configuration, 1/2/4-byte reads; 8-byte reads as two 4-byte halves
 * repeated until config_generation is stable. */
uint8_t virtio_cfg_read8(struct virtio_dev *d, uint32_t off);
uint16_t virtio_cfg_read16(struct virtio_dev *d, uint32_t off);
uint32_t virtio_cfg_read32(struct virtio_dev *d, uint32_t off);
uint64_t virtio_cfg_read64(struct virtio_dev *d, uint32_t off);

/* A buffer of a request: device-readable, or device-writable when `write` is set. */
struct virtio_buf {
    uint64_t addr;
    uint32_t len;
    bool write;
};

/* Builds a chain from bufs[0..n) and makes it available. Only one chain is in flight at a
 * time: direct chains use descriptors 0..n-1; `indirect` puts the chain in an indirect
 * table referenced by descriptor 0 (needs VIRTIO_F_INDIRECT_DESC). Returns false if it does
 * not fit. */
bool virtq_submit_chain(struct virtio_dev *d, unsigned q, const struct virtio_buf *bufs, unsigned n,
                        bool indirect);
/* Makes descriptor `head` available as is (for hand-built chains) and notifies. */
void virtq_submit_head(struct virtio_dev *d, unsigned q, uint16_t head);
/* Polls the used ring for the next entry, watching device status for NEEDS_RESET. */
enum virtq_result virtq_wait(struct virtio_dev *d, unsigned q, uint64_t timeout_ms, struct virtq_used_elem *out);

/* ---- Pool mode: up to queue-size chains in flight, as Linux's virtio_ring does it ----------
 * virtq_pool_init puts every descriptor of an idle, set-up queue on a free list; virtq_add takes
 * a chain's descriptors from it (one descriptor plus a per-head indirect table when `indirect`
 * and INDIRECT_DESC, else n descriptors), makes the chain available (avail->idx is written at
 * once) and remembers `token` (not NULL) for it. virtq_kick_prepare says whether the device
 * needs a notify for what was added since its last call (avail_event with EVENT_IDX, else
 * VRING_USED_F_NO_NOTIFY); virtq_notify writes it. virtq_get_buf takes the next used entry
 * (non-blocking), frees its descriptors and hands back its token. virtq_disable_irq asks the
 * device for no interrupts: VRING_AVAIL_F_NO_INTERRUPT, or with EVENT_IDX used_event kept
 * half the index space behind last_used (rewritten on every virtq_get_buf).
 * The single-chain calls above refuse to run while pool mode is on; virtio_init/reinit ends it. */
#define VIRTQ_POOL_INDIRECT_MAX 8       /* entries of each per-head indirect table */
bool virtq_pool_init(struct virtio_dev *d, unsigned q);
/* Head descriptor of the chain, or -1 when there are not enough free descriptors. */
int virtq_add(struct virtio_dev *d, unsigned q, const struct virtio_buf *bufs, unsigned n, bool indirect, void *token);
/* Also moves used_event along after virtq_disable_irq (once per call is enough for
 * virtq_get_used users). */
bool virtq_kick_prepare(struct virtio_dev *d, unsigned q);
void virtq_notify(struct virtio_dev *d, unsigned q);
/* 1 and token, len set: a chain came back; 0: nothing new; -1: the device used an id that is
 * not an outstanding head (protocol error). */
int virtq_get_buf(struct virtio_dev *d, unsigned q, void **token, uint32_t *len);
void virtq_disable_irq(struct virtio_dev *d, unsigned q);
/* Persistent chains (pool mode): a chain built once with virtq_add can be made available again
 * unchanged, as DPDK's pre-built rings do, which skips the free list and every descriptor write.
 * virtq_get_used takes the next used entry without freeing its chain (1: *head set, 0: none, -1:
 * an id outside the queue); virtq_requeue publishes that head again. Do not mix with
 * virtq_get_buf on the same chains. Both are inline: every instruction counts when the guest is
 * emulated (as under PVM). */
static inline int virtq_get_used(struct virtio_dev *d, unsigned q, uint16_t *head)
{
    struct virtq *vq = &d->vq[q];
    if (vq->used->idx == vq->last_used)
        return 0;
    __asm__ volatile("" ::: "memory");     /* the entry after the index (x86 keeps loads in order) */
    uint32_t id = vq->used->ring[vq->last_used & (vq->size - 1)].id;
    if (id >= vq->size)
        return -1;
    *head = (uint16_t)id;
    vq->last_used++;
    return 1;
}

static inline void virtq_requeue(struct virtio_dev *d, unsigned q, uint16_t head)
{
    struct virtq *vq = &d->vq[q];
    vq->avail->ring[vq->avail_idx & (vq->size - 1)] = head;
    __asm__ volatile("" ::: "memory");     /* the ring entry before the index */
    vq->avail->idx = ++vq->avail_idx;
    vq->num_added++;
}

/* Chains added and not yet returned by virtq_get_buf. */
static inline unsigned virtq_outstanding(const struct virtio_dev *d, unsigned q)
{
    return (uint16_t)(d->vq[q].avail_idx - d->vq[q].last_used);
}

#endif
