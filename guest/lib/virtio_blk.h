/* virtio-blk (virtio 1.2 section 5.2) on top of lib/virtio_pci: feature bits, configuration
 * layout, request types, and a synchronous request helper (one request in flight). */
#ifndef LIB_VIRTIO_BLK_H
#define LIB_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/virtio_pci.h"

#define VIRTIO_BLK_F_SIZE_MAX     1
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_GEOMETRY     4
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_TOPOLOGY     10
#define VIRTIO_BLK_F_CONFIG_WCE   11
#define VIRTIO_BLK_F_MQ           12
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* What the guest asks for; it takes whatever subset the device offers (VERSION_1 is added by
 * virtio_init and required). */
#define BLK_WANTED_FEATURES                                                                        \
    (VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |                       \
     VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_RO) | \
     VIRTIO_BIT(VIRTIO_BLK_F_MQ) | VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |                               \
     VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |                       \
     VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC))

/* struct virtio_blk_config offsets. */
#define VIRTIO_BLK_CFG_CAPACITY        0x00   /* le64, 512-byte sectors */
#define VIRTIO_BLK_CFG_SIZE_MAX        0x08
#define VIRTIO_BLK_CFG_SEG_MAX         0x0c
#define VIRTIO_BLK_CFG_BLK_SIZE        0x14
#define VIRTIO_BLK_CFG_NUM_QUEUES      0x22   /* le16 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 0x24
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG 0x28
#define VIRTIO_BLK_CFG_DISCARD_ALIGN   0x2c
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS  0x30
#define VIRTIO_BLK_CFG_MAX_WZ_SEG      0x34
#define VIRTIO_BLK_CFG_WZ_MAY_UNMAP    0x38   /* u8 */

#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20
#define SECTOR 512u

struct virtio_blk_outhdr {
    uint32_t type;
    uint32_t ioprio;
    uint64_t sector;
};

/* Payload of DISCARD and WRITE_ZEROES. */
struct virtio_blk_discard_wz {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;         /* bit 0: unmap (WRITE_ZEROES only) */
};

struct blk_dev {
    struct virtio_dev *vd;
    bool ready;
    uint64_t capacity;
    uint32_t size_max, seg_max, blk_size;
    uint16_t num_queues;
    uint32_t max_discard_sectors, max_discard_seg, discard_align;
    uint32_t max_wz_sectors, max_wz_seg;
    uint8_t wz_may_unmap;
    /* Of the last request. */
    struct virtq_used_elem used;
};

struct blk_seg {
    uint64_t addr;
    uint32_t len;
};

/* First virtio-blk device whose offered features have VIRTIO_BLK_F_RO == ro, initialised
 * (one queue) on first use and shared by later calls. NULL with a reason in err if none. */
struct blk_dev *blk_get(bool ro, char *err, size_t errlen);
/* (Re)initialises the device (virtio_reinit keeps MSI-X entries) and re-reads its config. */
bool blk_init(struct blk_dev *b);

/* One request: header, data segments (device-writable for IN and GET_ID, device-readable for
 * the others), status byte; through an indirect table if asked. Waits for it to be used.
 * *status is the status byte the device wrote (0xff if it wrote none). */
enum virtq_result blk_request(struct blk_dev *b, uint32_t type, uint64_t sector, const struct blk_seg *segs,
                              unsigned nsegs, bool indirect, uint8_t *status);
/* Single-buffer shorthands. */
enum virtq_result blk_rw(struct blk_dev *b, uint32_t type, uint64_t sector, void *buf, uint32_t len,
                         uint8_t *status);

/* Host-written test pattern: byte at disk offset o (guest/README.md). */
static inline uint8_t blk_pattern(uint64_t o) { return (uint8_t)(((o >> 9) * 151) ^ (o * 7) ^ 0x5a); }

#endif
