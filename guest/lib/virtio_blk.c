#include "lib/virtio_blk.h"
#include "lib/printf.h"
#include "lib/string.h"

static struct blk_dev blks[VIRTIO_MAX_DEVS];

/* Request header and status live here; one request in flight at a time. */
static struct virtio_blk_outhdr req_hdr __attribute__((aligned(64)));
static volatile uint8_t req_status __attribute__((aligned(64)));

static void read_config(struct blk_dev *b)
{
    struct virtio_dev *d = b->vd;
    b->capacity = virtio_cfg_read64(d, VIRTIO_BLK_CFG_CAPACITY);
    b->size_max = virtio_has(d, VIRTIO_BLK_F_SIZE_MAX) ? virtio_cfg_read32(d, VIRTIO_BLK_CFG_SIZE_MAX) : 0;
    b->seg_max = virtio_has(d, VIRTIO_BLK_F_SEG_MAX) ? virtio_cfg_read32(d, VIRTIO_BLK_CFG_SEG_MAX) : 0;
    b->blk_size = virtio_has(d, VIRTIO_BLK_F_BLK_SIZE) ? virtio_cfg_read32(d, VIRTIO_BLK_CFG_BLK_SIZE) : 0;
    b->num_queues = virtio_has(d, VIRTIO_BLK_F_MQ) ? virtio_cfg_read16(d, VIRTIO_BLK_CFG_NUM_QUEUES) : 1;
    if (virtio_has(d, VIRTIO_BLK_F_DISCARD)) {
        b->max_discard_sectors = virtio_cfg_read32(d, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS);
        b->max_discard_seg = virtio_cfg_read32(d, VIRTIO_BLK_CFG_MAX_DISCARD_SEG);
        b->discard_align = virtio_cfg_read32(d, VIRTIO_BLK_CFG_DISCARD_ALIGN);
    }
    if (virtio_has(d, VIRTIO_BLK_F_WRITE_ZEROES)) {
        b->max_wz_sectors = virtio_cfg_read32(d, VIRTIO_BLK_CFG_MAX_WZ_SECTORS);
        b->max_wz_seg = virtio_cfg_read32(d, VIRTIO_BLK_CFG_MAX_WZ_SEG);
        b->wz_may_unmap = virtio_cfg_read8(d, VIRTIO_BLK_CFG_WZ_MAY_UNMAP);
    }
}

bool blk_init(struct blk_dev *b)
{
    b->ready = false;
    bool ok = b->vd->wanted ? virtio_reinit(b->vd) : virtio_init(b->vd, BLK_WANTED_FEATURES, 1);
    if (!ok)
        return false;
    read_config(b);
    b->ready = true;
    return true;
}

struct blk_dev *blk_get(bool ro, char *err, size_t errlen)
{
    if (pci_count() == 0)
        pci_scan();
    unsigned seen = 0;
    err[0] = 0;
    for (unsigned n = 0;; n++) {
        struct pci_func *f = virtio_pci_find(VIRTIO_ID_BLOCK, n);
        if (!f)
            break;
        seen++;
        struct virtio_dev *d = virtio_open(f);
        if (!d)
            break;
        struct blk_dev *b = 0;
        for (unsigned i = 0; i < VIRTIO_MAX_DEVS && !b; i++)
            if (blks[i].vd == d || !blks[i].vd)
                b = &blks[i];
        if (!b)
            break;
        b->vd = d;
        if (!b->ready && !blk_init(b)) {
            snprintf(err, errlen, "virtio-blk %02x:%02x.%x: %s", f->bus, f->dev, f->fn, d->err);
            continue;
        }
        if (!!(d->offered & VIRTIO_BIT(VIRTIO_BLK_F_RO)) == ro)
            return b;
    }
    if (!err[0])
        snprintf(err, errlen, "no %s virtio-blk device (%u virtio-blk found)", ro ? "read-only" : "writable",
                 seen);
    return 0;
}

enum virtq_result blk_request(struct blk_dev *b, uint32_t type, uint64_t sector, const struct blk_seg *segs,
                              unsigned nsegs, bool indirect, uint8_t *status)
{
    static struct virtio_buf bufs[VIRTQ_MAX_SIZE];   /* 4 KiB: not on the stack */
    bool dev_writes = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
    *status = 0xff;
    if (nsegs + 2 > VIRTQ_MAX_SIZE)
        return VQ_TIMEOUT;
    req_hdr.type = type;
    req_hdr.ioprio = 0;
    req_hdr.sector = sector;
    req_status = 0xff;
    unsigned n = 0;
    bufs[n++] = (struct virtio_buf){(uint64_t)(uintptr_t)&req_hdr, sizeof(req_hdr), false};
    for (unsigned i = 0; i < nsegs; i++)
        bufs[n++] = (struct virtio_buf){segs[i].addr, segs[i].len, dev_writes};
    bufs[n++] = (struct virtio_buf){(uint64_t)(uintptr_t)&req_status, 1, true};
    if (!virtq_submit_chain(b->vd, 0, bufs, n, indirect))
        return VQ_TIMEOUT;
    b->used = (struct virtq_used_elem){0xffffffffu, 0};
    enum virtq_result r = virtq_wait(b->vd, 0, VIRTIO_TIMEOUT_MS, &b->used);
    *status = req_status;
    return r;
}

enum virtq_result blk_rw(struct blk_dev *b, uint32_t type, uint64_t sector, void *buf, uint32_t len,
                         uint8_t *status)
{
    struct blk_seg s = {(uint64_t)(uintptr_t)buf, len};
    return blk_request(b, type, sector, &s, len ? 1 : 0, false, status);
}
