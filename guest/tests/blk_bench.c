/* blk-bench (on request only): a polling virtio-blk load generator, for host-timed benchmarks.
 *
 * Keeps up to bench.qd requests in flight on queue 0 of the first writable virtio-blk device
 * (lib/virtio_pci.c pool mode: descriptors from a free list, one indirect table per request
 * when INDIRECT_DESC is negotiated, as Linux does). Interrupts are suppressed (used_event kept
 * far behind with EVENT_IDX, else VRING_AVAIL_F_NO_INTERRUPT) and never needed: completions are
 * found by polling the used ring, each completed slot is refilled at once, and the device is
 * notified once per batch and only when avail_event (or VRING_USED_F_NO_NOTIFY) asks for it.
 *
 * Command line (guest/README.md):
 *   bench.mode=randread|randwrite|read|write   (read/write: sequential; default randread)
 *   bench.bs=BYTES     request size, a multiple of 512 up to 4 MiB (default 4096)
 *   bench.qd=N         requests in flight, 1..128 (default 1)
 *   bench.ops=N        requests in all (default 10000)
 *   bench.warmup=N     requests before BENCH-START, untimed (default 0): the same pattern
 *                      from the start, then the device is re-initialised
 *   bench.span=BYTES   disk region [0, span) used (default and maximum: the whole disk);
 *                      random offsets are bs-aligned, xorshift64 with a fixed seed
 *   bench.seed=N       PRNG seed (default fixed)
 *   bench.indirect=0|1 indirect tables (default 1, when the device offers INDIRECT_DESC)
 *
 * Output: BENCH-INFO (parameters), BENCH-START right before the first request is made
 * available, BENCH-END ops=N bytes=M errors=E right after the last completion is seen, then
 * BENCH-STATS (kicks written and saved, TSC cycles; the TSC is not calibrated, the host times
 * BENCH-START..BENCH-END). Data buffers are page-aligned and taken from free RAM once; write
 * data is a fixed pattern written once. The device is re-initialised afterwards, so other blk-*
 * tests may follow. WARNING: write modes overwrite the disk region (not the test pattern). */
#include "tests/test.h"
#include "lib/cmdline.h"
#include "lib/cpu.h"
#include "lib/memrange.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "lib/tsc.h"
#include "lib/virtio_blk.h"

#define BENCH_MAX_QD 128
#define BENCH_MAX_BS (4u << 20)
#define BENCH_MAX_SEGS (VIRTQ_POOL_INDIRECT_MAX - 2)
#define PAGE 4096ull

enum mode { RANDREAD, RANDWRITE, SEQREAD, SEQWRITE };
static const char *const mode_names[] = {"randread", "randwrite", "read", "write"};

/* Per slot (one request in flight each): header, status byte, the chain's buffers. */
static struct virtio_blk_outhdr hdrs[BENCH_MAX_QD] __attribute__((aligned(64)));
static volatile uint8_t statuses[BENCH_MAX_QD] __attribute__((aligned(64)));
static struct virtio_buf chains[BENCH_MAX_QD][BENCH_MAX_SEGS + 2];
static uint8_t slot_of_head[VIRTQ_MAX_SIZE];

/* Data buffer region, found once in free RAM and kept for later runs in the same boot. */
static uint64_t region_base, region_size;

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

/* Free RAM for `size` bytes of buffers (lib/memrange), kept for later runs in the same boot. */
static uint64_t alloc_ram(uint64_t size)
{
    if (region_size >= size)
        return region_base;
    uint64_t a = memrange_alloc_ram(size);
    if (a) {
        region_base = a;
        region_size = size;
    }
    return a;
}

static uint64_t get_num(const char *key, uint64_t dflt)
{
    uint64_t v;
    return cmdline_get_u64(key, &v) ? v : dflt;
}

struct gen {
    enum mode mode;
    uint64_t bs, blocks, next_seq, rng;
};

static inline uint64_t next_offset(struct gen *g)
{
    if (g->mode == SEQREAD || g->mode == SEQWRITE) {
        uint64_t o = g->next_seq;
        if (++g->next_seq == g->blocks)
            g->next_seq = 0;
        return o * g->bs;
    }
    uint64_t x = g->rng;    /* xorshift64 (Marsaglia 13/7/17) */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    g->rng = x;
    return (x % g->blocks) * g->bs;
}

/* One pass of `ops` requests; only a timed pass prints the BENCH-* lines the host times. */
static bool bench_pass(struct test_result *r, uint64_t ops, bool timed)
{
    char err[128];
    struct blk_dev *b = blk_get(false, err, sizeof(err));
    if (!b)
        return fail(r, "%s", err);
    struct virtio_dev *d = b->vd;

    const char *ms = cmdline_get("bench.mode");
    enum mode mode = RANDREAD;
    if (ms) {
        unsigned m = 0;
        while (m < 4 && strcmp(ms, mode_names[m]) != 0)
            m++;
        if (m == 4)
            return fail(r, "bench.mode=%s: want randread, randwrite, read or write", ms);
        mode = (enum mode)m;
    }
    bool writes = mode == RANDWRITE || mode == SEQWRITE;
    uint64_t bs = get_num("bench.bs", 4096);
    uint64_t qd = get_num("bench.qd", 1);
    uint64_t cap = b->capacity * SECTOR;
    uint64_t span = get_num("bench.span", cap);
    uint64_t seed = get_num("bench.seed", 0x2545f4914f6cdd1dull);
    bool indirect = get_num("bench.indirect", 1) != 0 && virtio_has(d, VIRTIO_F_INDIRECT_DESC);
    bool use_pause = get_num("bench.pause", 1) != 0;
    bool reuse = get_num("bench.reuse", 1) != 0;
    if (bs < SECTOR || bs % SECTOR || bs > BENCH_MAX_BS)
        return fail(r, "bench.bs=%lu: want a multiple of 512 up to %u", bs, BENCH_MAX_BS);
    if (qd < 1 || qd > BENCH_MAX_QD)
        return fail(r, "bench.qd=%lu: want 1..%u", qd, BENCH_MAX_QD);
    if (ops == 0)
        return fail(r, "bench.ops=0");
    if (span > cap || span < bs)
        return fail(r, "bench.span=%lu: want bs (%lu) up to the capacity (%lu bytes)", span, bs, cap);
    if (writes && (d->offered & VIRTIO_BIT(VIRTIO_BLK_F_RO)))
        return fail(r, "read-only device");

    /* Data segments: one per request unless size_max is smaller than bs. */
    uint64_t seg = bs;
    if (b->size_max && b->size_max < seg)
        seg = b->size_max & ~(uint64_t)(SECTOR - 1);
    unsigned nseg = seg ? (unsigned)((bs + seg - 1) / seg) : 0;
    if (nseg == 0 || nseg > BENCH_MAX_SEGS || (b->seg_max && nseg > b->seg_max))
        return fail(r, "bs=%lu needs %u segments (size_max %u, seg_max %u)", bs, nseg, b->size_max, b->seg_max);
    unsigned per_req = indirect ? 1 : nseg + 2;
    if (qd * per_req > d->vq[0].size)
        return fail(r, "qd=%lu x %u descriptors exceed the queue size %u (indirect=%d)", qd, per_req,
                    d->vq[0].size, indirect);

    uint64_t stride = align_up(bs, PAGE);
    uint64_t base = alloc_ram(qd * stride);
    if (!base)
        return fail(r, "no free RAM for %lu x %lu bytes of buffers", qd, stride);
    for (unsigned s = 0; s < qd; s++) {
        uint64_t buf = base + s * stride;
        if (writes) {   /* any pattern, written once; 64-bit stores (no SSE in this guest) */
            volatile uint64_t *w = (volatile uint64_t *)buf;
            for (uint64_t i = 0; i < bs / 8; i++)
                w[i] = 0x5a5aa5a500000000ull ^ (i * 0x9e3779b97f4a7c15ull) ^ s;
        }
        hdrs[s].type = writes ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
        hdrs[s].ioprio = 0;
        unsigned n = 0;
        chains[s][n++] = (struct virtio_buf){(uint64_t)(uintptr_t)&hdrs[s], sizeof(hdrs[s]), false};
        for (unsigned k = 0; k < nseg; k++) {
            uint64_t len = bs - k * seg < seg ? bs - k * seg : seg;
            chains[s][n++] = (struct virtio_buf){buf + k * seg, (uint32_t)len, !writes};
        }
        chains[s][n++] = (struct virtio_buf){(uint64_t)(uintptr_t)&statuses[s], 1, true};
    }
    unsigned nbufs = nseg + 2;

    if (!virtq_pool_init(d, 0))
        return fail(r, "queue 0 busy or not set up");
    virtq_disable_irq(d, 0);

    struct gen g = {.mode = mode, .bs = bs, .blocks = span / bs, .next_seq = 0, .rng = seed ? seed : 1};
    memset(slot_of_head, 0xff, sizeof(slot_of_head));
    if (timed)
        printf("BENCH-INFO mode=%s bs=%lu qd=%lu ops=%lu span=%lu indirect=%d reuse=%d event_idx=%d queue_size=%u "
           "segs=%u buffers=0x%lx\n",
           mode_names[mode], bs, qd, ops, g.blocks * bs, indirect, reuse, virtio_has(d, VIRTIO_F_EVENT_IDX) ? 1 : 0,
           d->vq[0].size, nseg, base);

    uint64_t issued = 0, done = 0, errors = 0, idle = 0, bad_id = 0, stalls = 0;
    uint64_t done_at_check = 0;
    uint64_t stall_budget = VIRTIO_TIMEOUT_MS * TSC_MAX_PER_MS;
    if (timed)
        printf("BENCH-START\n");
    uint64_t t0 = rdtsc();
    uint64_t deadline = t0 + stall_budget;
    /* First fill: every slot's chain is built (descriptors from the free list) and made available. */
    for (unsigned s = 0; s < qd && issued < ops; s++, issued++) {
        hdrs[s].sector = next_offset(&g) / SECTOR;
        statuses[s] = 0xff;
        int h = virtq_add(d, 0, chains[s], nbufs, indirect, (void *)(uintptr_t)(s + 1));
        if (h < 0) {
            bad_id = 2;
            break;
        }
        slot_of_head[h] = (uint8_t)s;
    }
    if (virtq_kick_prepare(d, 0))
        virtq_notify(d, 0);
    while (done < ops && !bad_id) {
        int got = 0, rc;
        if (reuse) {
            /* Persistent chains: a completed slot's chain goes straight back, unchanged. */
            uint16_t head;
            while ((rc = virtq_get_used(d, 0, &head)) > 0) {
                unsigned s = slot_of_head[head];
                if (s >= qd) {
                    rc = -1;
                    break;
                }
                errors += statuses[s] != VIRTIO_BLK_S_OK;
                done++;
                got++;
                if (issued < ops) {
                    hdrs[s].sector = next_offset(&g) / SECTOR;
                    statuses[s] = 0xff;
                    virtq_requeue(d, 0, head);
                    issued++;
                }
            }
        } else {
            /* As Linux: every completion frees its descriptors, every request takes new ones. */
            void *tok;
            uint32_t len;
            while ((rc = virtq_get_buf(d, 0, &tok, &len)) > 0) {
                unsigned s = (unsigned)(uintptr_t)tok - 1;
                errors += statuses[s] != VIRTIO_BLK_S_OK;
                done++;
                got++;
                if (issued < ops) {
                    hdrs[s].sector = next_offset(&g) / SECTOR;
                    statuses[s] = 0xff;
                    if (virtq_add(d, 0, chains[s], nbufs, indirect, tok) < 0) {
                        rc = -1;
                        break;
                    }
                    issued++;
                }
            }
        }
        if (rc < 0) {
            bad_id = 1;
            break;
        }
        if (got) {
            if (virtq_kick_prepare(d, 0))
                virtq_notify(d, 0);
            continue;
        }
        if (use_pause)
            cpu_pause();
        if ((++idle & 0xfff) == 0) {
            uint64_t now = rdtsc();
            if (done != done_at_check) {
                done_at_check = done;
                deadline = now + stall_budget;
            } else if ((int64_t)(now - deadline) >= 0 || virtio_needs_reset(d)) {
                stalls = 1;
                break;
            }
        }
    }
    uint64_t t1 = rdtsc();
    uint64_t bytes = (done - errors) * bs;
    if (timed) {
        printf("BENCH-END ops=%lu bytes=%lu errors=%lu\n", done, bytes, errors);
        printf("BENCH-STATS kicks=%lu kicks_saved=%lu idle_polls=%lu tsc_cycles=%lu\n", d->vq[0].kicks,
               d->vq[0].kicks_saved, idle, t1 - t0);
    }

    if (timed)
        detail(r, "mode=%s bs=%lu qd=%lu ops=%lu errors=%lu kicks=%lu", mode_names[mode], bs, qd, done, errors,
               d->vq[0].kicks);
    uint8_t st = virtio_status(d);
    /* Leave a clean device (no pool mode, no suppression) for whatever test comes next. */
    bool reinit = blk_init(b);
    if (bad_id == 2)
        return fail(r, " out of descriptors");
    if (bad_id)
        return fail(r, " device used an id that is not an outstanding head");
    if (stalls)
        return fail(r, " stalled with %lu outstanding (device status 0x%x)", issued - done, st);
    if (errors)
        return fail(r, " %lu requests failed", errors);
    if (!reinit)
        return fail(r, " re-initialisation failed: %s", d->err);
    return true;
}

bool test_blk_bench(struct test_result *r)
{
    /* A VMM with a JIT runs its request path compiled only after a while; bench.warmup requests
     * first (untimed, same pattern) let the host measure the steady state. */
    uint64_t warmup = get_num("bench.warmup", 0);
    if (warmup && !bench_pass(r, warmup, false))
        return false;
    return bench_pass(r, get_num("bench.ops", 10000), true);
}
