/* virtio-blk tests (all on request). They share one initialised device per kind: the first
 * virtio-blk device without VIRTIO_BLK_F_RO for blk-id/read/write/flush/discard/msix/bad, the
 * first one with it for blk-ro. The disks hold the host pattern blk_pattern() (README.md).
 *
 * Sectors the tests write, with C = capacity (at least 1024 sectors):
 *   W = (C / 2) & ~7      blk-write: 8 sectors of pattern ^ 0xff
 *   W + 64                blk-discard: 8 sectors discarded (zeros)
 *   W + 128               blk-discard: 8 sectors write-zeroed (zeros)
 * Everything else keeps the pattern (blk-ro and blk-bad (d) send writes only to a read-only
 * disk or in chains that must fail, with data equal to what the disk holds). */
#include "tests/test.h"
#include "lib/cmdline.h"
#include "lib/cpu.h"
#include "lib/io.h"
#include "lib/lapic.h"
#include "lib/memrange.h"
#include "lib/msix.h"
#include "lib/printf.h"
#include "lib/serial.h"
#include "lib/start_info.h"
#include "lib/string.h"
#include "lib/tsc.h"
#include "lib/virtio_blk.h"

#define BUF_SIZE (64 * 1024)
#define MIN_CAPACITY 1024

static uint8_t buf[BUF_SIZE] __attribute__((aligned(4096)));
static uint8_t buf2[8 * SECTOR] __attribute__((aligned(4096)));

static const char *vq_name(enum virtq_result v)
{
    switch (v) {
    case VQ_DONE: return "done";
    case VQ_NEEDS_RESET: return "needs_reset";
    default: return "timeout";
    }
}

static struct blk_dev *get(struct test_result *r, bool ro)
{
    char err[128];
    struct blk_dev *b = blk_get(ro, err, sizeof(err));
    if (!b)
        fail(r, "%s", err);
    return b;
}

/* W, after checking the disk is big enough for the fixed layout above. */
static bool layout(struct test_result *r, struct blk_dev *b, uint64_t *w)
{
    if (b->capacity < MIN_CAPACITY)
        return fail(r, "capacity %lu sectors, tests need at least %u", b->capacity, MIN_CAPACITY);
    *w = (b->capacity / 2) & ~7ull;
    return true;
}

static bool check_pattern(struct test_result *r, const char *what, const uint8_t *p, uint64_t sector, uint32_t len,
                          uint8_t x)
{
    uint64_t base = sector * SECTOR;
    for (uint32_t i = 0; i < len; i++) {
        uint8_t want = blk_pattern(base + i) ^ x;
        if (p[i] != want)
            return fail(r, " %s: disk byte 0x%lx (sector %lu) is 0x%02x, want 0x%02x", what, base + i,
                        (base + i) / SECTOR, p[i], want);
    }
    return true;
}

static bool check_fill(struct test_result *r, const char *what, const uint8_t *p, uint64_t sector, uint32_t len,
                       uint8_t v)
{
    for (uint32_t i = 0; i < len; i++)
        if (p[i] != v)
            return fail(r, " %s: disk byte 0x%lx is 0x%02x, want 0x%02x", what, sector * SECTOR + i, p[i], v);
    return true;
}

static void fill_pattern(uint8_t *p, uint64_t sector, uint32_t len, uint8_t x)
{
    for (uint32_t i = 0; i < len; i++)
        p[i] = blk_pattern(sector * SECTOR + i) ^ x;
}

/* One request that must be used (id 0) with status `want`. */
static bool req(struct test_result *r, const char *what, struct blk_dev *b, uint32_t type, uint64_t sector,
                const struct blk_seg *segs, unsigned n, bool indirect, uint8_t want)
{
    uint8_t st;
    enum virtq_result v = blk_request(b, type, sector, segs, n, indirect, &st);
    if (v != VQ_DONE)
        return fail(r, " %s: %s (device status 0x%x)", what, vq_name(v), virtio_status(b->vd));
    if (b->used.id != 0)
        return fail(r, " %s: used id %u, want 0", what, b->used.id);
    if (st != want)
        return fail(r, " %s: status %u, want %u", what, st, want);
    return true;
}

static bool read1(struct test_result *r, const char *what, struct blk_dev *b, uint64_t sector, void *p, uint32_t len)
{
    memset(p, 0xcc, len);
    struct blk_seg s = {(uint64_t)(uintptr_t)p, len};
    return req(r, what, b, VIRTIO_BLK_T_IN, sector, &s, 1, false, VIRTIO_BLK_S_OK);
}

static bool write1(struct test_result *r, const char *what, struct blk_dev *b, uint64_t sector, void *p, uint32_t len)
{
    struct blk_seg s = {(uint64_t)(uintptr_t)p, len};
    return req(r, what, b, VIRTIO_BLK_T_OUT, sector, &s, 1, false, VIRTIO_BLK_S_OK);
}

/* Splits [p, p + total) into at most `max` segments the device accepts (seg_max, size_max):
 * 4 KiB pieces, the first one cut into 512 + 3584 bytes when there is room, so segment
 * boundaries fall both on and off page boundaries. Returns the count, 0 if impossible. */
static unsigned split(const struct blk_dev *b, uint8_t *p, uint32_t total, struct blk_seg *segs, unsigned max)
{
    unsigned limit = max;
    if (b->seg_max && b->seg_max < limit)
        limit = b->seg_max;
    uint32_t chunk = 4096;
    if ((total + chunk - 1) / chunk > limit)
        chunk = ((total + limit - 1) / limit + SECTOR - 1) & ~(SECTOR - 1);
    if (b->size_max && chunk > b->size_max)
        chunk = b->size_max & ~(SECTOR - 1);
    if (chunk == 0 || (total + chunk - 1) / chunk > limit)
        return 0;
    unsigned n = 0;
    uint32_t off = 0;
    if (chunk > SECTOR && (total + chunk - 1) / chunk + 1 <= limit) {
        segs[n++] = (struct blk_seg){(uint64_t)(uintptr_t)p, SECTOR};
        segs[n++] = (struct blk_seg){(uint64_t)(uintptr_t)p + SECTOR, chunk - SECTOR};
        off = chunk;
    }
    while (off < total) {
        uint32_t len = total - off < chunk ? total - off : chunk;
        segs[n++] = (struct blk_seg){(uint64_t)(uintptr_t)p + off, len};
        off += len;
    }
    return n;
}

static void feature_names(struct test_result *r, uint64_t f)
{
    static const struct bit_name names[] = {
        {VIRTIO_BLK_F_SIZE_MAX, "SIZE_MAX"},   {VIRTIO_BLK_F_SEG_MAX, "SEG_MAX"},
        {VIRTIO_BLK_F_RO, "RO"},               {VIRTIO_BLK_F_BLK_SIZE, "BLK_SIZE"},
        {VIRTIO_BLK_F_FLUSH, "FLUSH"},         {VIRTIO_BLK_F_MQ, "MQ"},
        {VIRTIO_BLK_F_DISCARD, "DISCARD"},     {VIRTIO_BLK_F_WRITE_ZEROES, "WRITE_ZEROES"},
        {VIRTIO_F_INDIRECT_DESC, "INDIRECT_DESC"}, {VIRTIO_F_EVENT_IDX, "EVENT_IDX"},
        {VIRTIO_F_VERSION_1, "VERSION_1"},
    };
    detail_bits(r, f, names, sizeof(names) / sizeof(names[0]));
}

/* ---- blk-id ---------------------------------------------------------------------------- */

bool test_blk_id(struct test_result *r)
{
    struct blk_dev *b = get(r, false);
    if (!b)
        return false;
    struct virtio_dev *d = b->vd;
    detail(r, "capacity=%lu blk_size=%u queues=%u seg_max=%u features=", b->capacity, b->blk_size, b->num_queues,
           b->seg_max);
    feature_names(r, d->features);
    if (d->bars_moved)
        detail(r, " bars_assigned=%u", d->bars_moved);

    memset(buf, 0, 64);
    struct blk_seg s = {(uint64_t)(uintptr_t)buf, VIRTIO_BLK_ID_BYTES};
    if (!req(r, "GET_ID", b, VIRTIO_BLK_T_GET_ID, 0, &s, 1, false, VIRTIO_BLK_S_OK))
        return false;
    char id[VIRTIO_BLK_ID_BYTES + 1];
    memcpy(id, buf, VIRTIO_BLK_ID_BYTES);
    id[VIRTIO_BLK_ID_BYTES] = 0;
    for (char *c = id; *c; c++)
        if (*c <= ' ' || *c > '~')
            *c = '?';                       /* keep the detail one printable word */
    detail(r, " serial=%s", id[0] ? id : "-");

    bool ok = true;
    uint64_t want_cap;
    if (cmdline_get_u64("blk.capacity", &want_cap) && want_cap != b->capacity)
        ok = fail(r, " capacity %lu but blk.capacity=%lu", b->capacity, want_cap);
    const char *want_serial = cmdline_get("blk.serial");
    if (want_serial && strcmp(want_serial, id) != 0)
        ok = fail(r, " serial '%s' but blk.serial=%s", id, want_serial);
    if ((d->features & ~d->offered) || !virtio_has(d, VIRTIO_F_VERSION_1))
        ok = fail(r, " negotiated 0x%lx not within offered 0x%lx", d->features, d->offered);
    if (b->blk_size && (b->blk_size < SECTOR || !pci_is_pow2(b->blk_size)))
        ok = fail(r, " odd blk_size %u", b->blk_size);
    return ok;
}

/* ---- blk-read -------------------------------------------------------------------------- */

bool test_blk_read(struct test_result *r)
{
    static struct blk_seg segs[VIRTQ_MAX_SIZE];
    struct blk_dev *b = get(r, false);
    uint64_t w = 0;
    if (!b || !layout(r, b, &w))
        return false;
    uint64_t cap = b->capacity;

    if (!read1(r, "sector 0", b, 0, buf, SECTOR) || !check_pattern(r, "sector 0", buf, 0, SECTOR, 0))
        return false;
    if (!read1(r, "middle", b, w - 3, buf, SECTOR) || !check_pattern(r, "middle", buf, w - 3, SECTOR, 0))
        return false;
    if (!read1(r, "last", b, cap - 1, buf, SECTOR) || !check_pattern(r, "last", buf, cap - 1, SECTOR, 0))
        return false;

    /* 64 KiB at an odd sector, split over many data descriptors. */
    uint64_t s64 = cap / 4 + 1;
    unsigned n = split(b, buf, BUF_SIZE, segs, VIRTQ_MAX_SIZE - 2);
    if (!n)
        return fail(r, " cannot split 64 KiB within seg_max=%u size_max=%u", b->seg_max, b->size_max);
    memset(buf, 0xcc, BUF_SIZE);
    if (!req(r, "64KiB", b, VIRTIO_BLK_T_IN, s64, segs, n, false, VIRTIO_BLK_S_OK) ||
        !check_pattern(r, "64KiB", buf, s64, BUF_SIZE, 0))
        return false;
    detail(r, "reads=4 segs=%u", n);

    /* 16 KiB through an indirect table of 8 data descriptors (+ header and status). */
    if (virtio_has(b->vd, VIRTIO_F_INDIRECT_DESC)) {
        uint64_t s16 = cap / 8 + 7;
        unsigned m = 0;
        for (uint32_t off = 0; off < 16384; off += 2048)
            segs[m++] = (struct blk_seg){(uint64_t)(uintptr_t)buf + off, 2048};
        if (b->seg_max && m > b->seg_max)
            m = 0, segs[m++] = (struct blk_seg){(uint64_t)(uintptr_t)buf, 16384};
        memset(buf, 0xcc, 16384);
        if (!req(r, "indirect", b, VIRTIO_BLK_T_IN, s16, segs, m, true, VIRTIO_BLK_S_OK) ||
            !check_pattern(r, "indirect", buf, s16, 16384, 0))
            return false;
        detail(r, " indirect=%u", m);
    } else {
        detail(r, " indirect=not-offered");
    }
    return true;
}

/* ---- blk-write ------------------------------------------------------------------------- */

static bool wait_for_byte(struct test_result *r)
{
    uint64_t deadline = rdtsc() + 60000 * TSC_MAX_PER_MS;
    while (!(inb(COM1 + UART_LSR) & LSR_DR)) {
        if (tsc_passed(deadline))
            return fail(r, " no input within a minute");
        cpu_pause();
    }
    detail(r, " got=0x%02x", inb(COM1 + UART_RBR));
    return true;
}

bool test_blk_write(struct test_result *r)
{
    struct blk_dev *b = get(r, false);
    uint64_t w = 0;
    if (!b || !layout(r, b, &w))
        return false;
    fill_pattern(buf2, w, 8 * SECTOR, 0xff);
    struct blk_seg segs[2] = {{(uint64_t)(uintptr_t)buf2, 3 * SECTOR},
                              {(uint64_t)(uintptr_t)buf2 + 3 * SECTOR, 5 * SECTOR}};
    if (!req(r, "write", b, VIRTIO_BLK_T_OUT, w, segs, 2, false, VIRTIO_BLK_S_OK))
        return false;
    bool flushed = virtio_has(b->vd, VIRTIO_BLK_F_FLUSH);
    if (flushed && !req(r, "flush", b, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, VIRTIO_BLK_S_OK))
        return false;
    /* Read back with one sector of the untouched pattern on either side. */
    if (!read1(r, "read back", b, w - 1, buf, 10 * SECTOR) || !check_pattern(r, "before", buf, w - 1, SECTOR, 0) ||
        !check_pattern(r, "written", buf + SECTOR, w, 8 * SECTOR, 0xff) ||
        !check_pattern(r, "after", buf + 9 * SECTOR, w + 8, SECTOR, 0))
        return false;
    detail(r, "sector=%lu count=8 flush=%s", w, flushed ? "ok" : "not-offered");
    uint64_t wait = 0;
    if (cmdline_get_u64("blk.wait", &wait) && wait) {
        printf("BLK-FLUSHED sector=%lu count=8\n", w);
        return wait_for_byte(r);
    }
    return true;
}

/* ---- blk-flush ------------------------------------------------------------------------- */

bool test_blk_flush(struct test_result *r)
{
    struct blk_dev *b = get(r, false);
    if (!b)
        return false;
    if (!(b->vd->offered & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)))
        return fail(r, "FLUSH not offered");
    if (!req(r, "flush", b, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, VIRTIO_BLK_S_OK))
        return false;
    detail(r, "status=0");
    return true;
}

/* ---- blk-discard ----------------------------------------------------------------------- */

static struct virtio_blk_discard_wz range_seg;

/* Writes 0xa5 to 8 sectors at s, checks them, sends `type` over them, reads back zeros. */
static bool zero_range(struct test_result *r, const char *what, struct blk_dev *b, uint32_t type, uint64_t s)
{
    memset(buf2, 0xa5, 8 * SECTOR);
    if (!write1(r, what, b, s, buf2, 8 * SECTOR) || !read1(r, what, b, s, buf, 8 * SECTOR) ||
        !check_fill(r, what, buf, s, 8 * SECTOR, 0xa5))
        return false;
    range_seg = (struct virtio_blk_discard_wz){.sector = s, .num_sectors = 8, .flags = 0};
    struct blk_seg seg = {(uint64_t)(uintptr_t)&range_seg, sizeof(range_seg)};
    if (!req(r, what, b, type, 0, &seg, 1, false, VIRTIO_BLK_S_OK))
        return false;
    return read1(r, what, b, s, buf, 8 * SECTOR) && check_fill(r, what, buf, s, 8 * SECTOR, 0);
}

bool test_blk_discard(struct test_result *r)
{
    struct blk_dev *b = get(r, false);
    uint64_t w = 0;
    if (!b || !layout(r, b, &w))
        return false;
    bool dis = virtio_has(b->vd, VIRTIO_BLK_F_DISCARD), wz = virtio_has(b->vd, VIRTIO_BLK_F_WRITE_ZEROES);
    if (!dis && !wz)
        return fail(r, "neither DISCARD nor WRITE_ZEROES offered");
    if (dis) {
        if (b->max_discard_sectors < 8 || b->max_discard_seg < 1)
            return fail(r, "max_discard_sectors=%u max_discard_seg=%u", b->max_discard_sectors, b->max_discard_seg);
        if (!zero_range(r, "discard", b, VIRTIO_BLK_T_DISCARD, w + 64))
            return false;
        detail(r, "discard=%lu+8", w + 64);
    } else {
        detail(r, "discard=not-offered");
    }
    if (wz) {
        if (b->max_wz_sectors < 8 || b->max_wz_seg < 1)
            return fail(r, " max_write_zeroes_sectors=%u max_write_zeroes_seg=%u", b->max_wz_sectors, b->max_wz_seg);
        if (!zero_range(r, "write-zeroes", b, VIRTIO_BLK_T_WRITE_ZEROES, w + 128))
            return false;
        detail(r, " write_zeroes=%lu+8", w + 128);
    } else {
        detail(r, " write_zeroes=not-offered");
    }
    return true;
}

/* ---- blk-ro ---------------------------------------------------------------------------- */

bool test_blk_ro(struct test_result *r)
{
    struct blk_dev *b = get(r, true);
    if (!b)
        return false;
    if (!virtio_has(b->vd, VIRTIO_BLK_F_RO))
        return fail(r, "RO offered but not negotiated");
    /* The data is what sector 0 already holds, so even a device that wrongly writes changes nothing. */
    fill_pattern(buf2, 0, SECTOR, 0);
    if (!req(r, "write", b, VIRTIO_BLK_T_OUT, 0, &(struct blk_seg){(uint64_t)(uintptr_t)buf2, SECTOR}, 1, false,
             VIRTIO_BLK_S_IOERR))
        return false;
    if (!read1(r, "read", b, 0, buf, SECTOR) || !check_pattern(r, "read", buf, 0, SECTOR, 0) ||
        !read1(r, "read last", b, b->capacity - 1, buf, SECTOR) ||
        !check_pattern(r, "read last", buf, b->capacity - 1, SECTOR, 0))
        return false;
    detail(r, "capacity=%lu write_status=%u read=ok", b->capacity, VIRTIO_BLK_S_IOERR);
    return true;
}

/* ---- MSI-X ----------------------------------------------------------------------------- */

#define VEC_CONFIG 0x40
#define VEC_QUEUE  0x41
#define VEC_MASKED 0x42
#define VEC_BAD    0x48     /* blk-bad: config vector 0x48 + case */

/* `want`, or the next vector up to 0x4f whose IRR bit is still clear (a vector delivered in an
 * earlier run of the test stays pending forever, since IF = 0). 0 if none. */
static uint8_t fresh_vector(uint8_t want)
{
    for (unsigned v = want; v <= 0x4f; v++)
        if (!lapic_irr_pending((uint8_t)v))
            return (uint8_t)v;
    return 0;
}

static struct msix blk_msix;

/* MSI-X on, config change -> entry 0 (cfg_vec), queue 0 -> entry 1 (q_vec, or no vector if 0),
 * and the device re-initialised so it takes them. */
static bool msix_setup(struct test_result *r, struct blk_dev *b, uint8_t cfg_vec, uint8_t q_vec)
{
    struct pci_func *f = b->vd->pci;
    if (!msix_open(f, &blk_msix))
        return fail(r, "no usable MSI-X capability on %02x:%02x.%x", f->bus, f->dev, f->fn);
    if (blk_msix.entries < 2)
        return fail(r, "MSI-X table has %u entries", blk_msix.entries);
    lapic_sw_enable();
    uint8_t apic = (uint8_t)cpu_apic_id();
    msix_set_entry(&blk_msix, 0, apic, cfg_vec);
    if (q_vec)
        msix_set_entry(&blk_msix, 1, apic, q_vec);
    msix_enable(&blk_msix);
    b->vd->config_msix = 0;
    b->vd->vq[0].msix = q_vec ? 1 : VIRTIO_MSI_NO_VECTOR;
    if (!blk_init(b))
        return fail(r, "init with MSI-X: %s", b->vd->err);
    return true;
}

bool test_blk_msix(struct test_result *r)
{
    struct blk_dev *b = get(r, false);
    if (!b)
        return false;
    uint8_t qv = fresh_vector(VEC_QUEUE);
    uint8_t mv = qv ? fresh_vector((uint8_t)(qv + 1) > VEC_MASKED ? (uint8_t)(qv + 1) : VEC_MASKED) : 0;
    if (!qv || !mv)
        return fail(r, "no vector in 0x41..0x4f left with a clear IRR bit");
    if (!msix_setup(r, b, VEC_CONFIG, qv))
        return false;
    if (lapic_irr_pending(qv))
        return fail(r, "vector 0x%x pending before any request", qv);

    /* Unmasked: the completion sets the vector in IRR. */
    if (!read1(r, "read", b, 0, buf, SECTOR) || !check_pattern(r, "read", buf, 0, SECTOR, 0))
        return false;
    if (!lapic_wait_irr(qv, 1000))
        return fail(r, "vector 0x%x not in the LAPIC IRR after a completion (MSI-X control 0x%x, PBA bit %u)", qv,
                    msix_control(&blk_msix), msix_pending(&blk_msix, 1));
    detail(r, "vector=0x%x irr=1 entries=%u table=BAR%u+0x%x", qv, blk_msix.entries, blk_msix.table_bar,
           blk_msix.table_off);

    /* Masked entry: the message is held in the PBA, and delivered when the entry is unmasked. */
    msix_set_entry(&blk_msix, 1, (uint8_t)cpu_apic_id(), mv);
    msix_mask_entry(&blk_msix, 1, true);
    if (!read1(r, "masked read", b, 0, buf, SECTOR))
        return false;
    tsc_delay_ms_at_least(10);
    bool early = lapic_irr_pending(mv), pba = msix_pending(&blk_msix, 1);
    msix_mask_entry(&blk_msix, 1, false);
    bool late = lapic_wait_irr(mv, 1000);
    detail(r, " masked: pba=%u irr=%u unmasked: irr=%u", pba, early, late);
    if (early || !pba || !late)
        return fail(r, " (want pba=1 irr=0, then irr=1)");
    return true;
}

/* ---- blk-bad --------------------------------------------------------------------------- */

/* Hand-built chains: their own header and status, away from the driver's. */
static struct virtio_blk_outhdr bad_hdr __attribute__((aligned(64)));
static volatile uint8_t bad_status __attribute__((aligned(64)));

#define BAD_ADDR_OUTSIDE 0xfffffff00000ull  /* (a): no RAM, no device there */
#define BAD_LEN_OUTSIDE  8192u              /* more than one page: see README (QEMU bounce buffer) */
#define BAD_LEN_OVERSIZE 0x7fffffffu        /* (c) */

/* (c) starts 1 MiB below the end of the RAM range that holds the image, so the buffer runs
 * out of RAM (into the PCI hole or unmapped space) whatever the RAM size. */
static uint64_t oversize_addr(void)
{
    uint64_t img = image_start();
    for (uint32_t i = 0; i < boot.memmap_count; i++) {
        const struct hvm_memmap_entry *e = &boot.memmap[i];
        if (e->type != MEMMAP_RAM || img < e->addr || img >= e->addr + e->size)
            continue;
        for (uint64_t a = (e->addr + e->size - 0x100000) & ~0xfffull; a >= image_end(); a -= 0x100000)
            if (!memrange_is_reserved(a, 0x100000))
                return a;
    }
    return (uint64_t)(uintptr_t)buf;
}

static void set_desc(volatile struct virtq_desc *t, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    t[i].addr = addr;
    t[i].len = len;
    t[i].flags = flags;
    t[i].next = next;
}

static void build_bad(struct blk_dev *b, int which)
{
    volatile struct virtq_desc *t = b->vd->vq[0].desc;
    uint64_t hdr = (uint64_t)(uintptr_t)&bad_hdr, st = (uint64_t)(uintptr_t)&bad_status;
    uint64_t data = (uint64_t)(uintptr_t)buf;
    const uint16_t N = VIRTQ_DESC_F_NEXT, W = VIRTQ_DESC_F_WRITE;
    bad_hdr = (struct virtio_blk_outhdr){.type = VIRTIO_BLK_T_IN, .sector = 0};
    bad_status = 0xee;
    switch (which) {
    case 0: /* (a) data buffer outside guest RAM */
        set_desc(t, 0, hdr, sizeof(bad_hdr), N, 1);
        set_desc(t, 1, BAD_ADDR_OUTSIDE, BAD_LEN_OUTSIDE, W | N, 2);
        set_desc(t, 2, st, 1, W, 0);
        break;
    case 1: /* (b) loop: the status descriptor's next points back at the data descriptor */
        set_desc(t, 0, hdr, sizeof(bad_hdr), N, 1);
        set_desc(t, 1, data, SECTOR, W | N, 2);
        set_desc(t, 2, st, 1, W | N, 1);
        break;
    case 2: /* (c) data length 0x7fffffff, running past the end of RAM */
        set_desc(t, 0, hdr, sizeof(bad_hdr), N, 1);
        set_desc(t, 1, oversize_addr(), BAD_LEN_OVERSIZE, W | N, 2);
        set_desc(t, 2, st, 1, W, 0);
        break;
    default: /* (d) a write whose status descriptor is not device-writable (data = what the disk holds) */
        bad_hdr.type = VIRTIO_BLK_T_OUT;
        fill_pattern(buf2, 0, SECTOR, 0);
        set_desc(t, 0, hdr, sizeof(bad_hdr), N, 1);
        set_desc(t, 1, (uint64_t)(uintptr_t)buf2, SECTOR, N, 2);
        set_desc(t, 2, st, 1, 0, 0);
        break;
    }
}

bool test_blk_bad(struct test_result *r)
{
    struct blk_dev *b = get(r, false);
    if (!b)
        return false;
    struct pci_func *f = b->vd->pci;
    bool have_msix = pci_cap_find(f, PCI_CAP_ID_MSIX, 0) != 0;
    if (have_msix && !msix_setup(r, b, VEC_BAD, 0))
        return false;

    bool ok = true;
    unsigned resets = 0, irqs = 0, irq_checked = 0, recovered = 0;
    for (int c = 0; c < 4; c++) {
        uint8_t cv = have_msix ? fresh_vector((uint8_t)(VEC_BAD + c)) : 0;
        if (have_msix && cv)
            msix_set_entry(&blk_msix, 0, (uint8_t)cpu_apic_id(), cv);
        if (!blk_init(b))
            return fail(r, "%s(%c) init: %s", r->len ? " " : "", 'a' + c, b->vd->err);

        build_bad(b, c);
        virtq_submit_head(b->vd, 0, 0);
        struct virtq_used_elem e = {0};
        enum virtq_result v = virtq_wait(b->vd, 0, VIRTIO_TIMEOUT_MS, &e);
        detail(r, "%s%c=", r->len ? " " : "", 'a' + c);
        if (v == VQ_NEEDS_RESET) {
            resets++;
            detail(r, "reset");
            if (cv) {
                irq_checked++;
                if (lapic_wait_irr(cv, 1000))
                    irqs++;
                else
                    detail(r, "(no-cfg-irq)");
            }
        } else if (v == VQ_DONE) {
            ok = fail(r, "completed(status=%u,len=%u)", bad_status, e.len);
        } else {
            ok = fail(r, "timeout(status=0x%x)", virtio_status(b->vd));
        }

        /* Reset, re-initialise, and a good read must work again. */
        if (!blk_init(b))
            return fail(r, " recovery init: %s", b->vd->err);
        if (!read1(r, " recovery read", b, 0, buf, SECTOR) || !check_pattern(r, "recovery read", buf, 0, SECTOR, 0))
            return false;
        recovered++;
    }
    detail(r, " cfg_irq=%u/%u recovered=%u", irqs, irq_checked, recovered);
    if (resets != 4)
        ok = false;
    if (irqs != irq_checked)
        ok = fail(r, " (config vector missing after NEEDS_RESET)");
    return ok;
}
