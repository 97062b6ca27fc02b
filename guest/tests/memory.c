/* Writes a few address-derived words into every MiB of every usable RAM range of the
 * memmap, then reads them all back. Catches missing or aliased guest memory (two guest
 * ranges backed by the same host memory), including RAM above 4 GiB. Ranges the guest
 * itself uses (image, stacks, page tables, boot data) are skipped. */
#include "tests/test.h"
#include "boot/paging.h"
#include "lib/cpu.h"
#include "lib/memrange.h"
#include "lib/start_info.h"
#include <stdint.h>

#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)

/* Offsets probed inside each MiB: start, two middles on different pages, the last word. */
static const uint64_t offsets[] = {0x0, 0x3ff08, 0x80010, MIB - 8};

static uint64_t pattern(uint64_t addr)
{
    uint64_t x = (addr ^ 0x6a09e667f3bcc908ull) * 0x9e3779b97f4a7c15ull;
    return x ^ (x >> 29);
}

struct walk {
    bool verify;
    uint64_t mib_touched, mib_high, words, bad;
    uint64_t first_bad, first_got;
};

static bool usable(const struct hvm_memmap_entry *e, uint64_t a)
{
    return a >= e->addr && a + 8 <= e->addr + e->size && paging_is_mapped(a) &&
           !memrange_is_reserved(a, 8);
}

static void walk_region(const struct hvm_memmap_entry *e, struct walk *w)
{
    uint64_t end = e->addr + e->size;
    for (uint64_t mib = e->addr & ~(MIB - 1); mib < end; mib += MIB) {
        bool touched = false;
        for (unsigned i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
            uint64_t a = mib + offsets[i];
            if (!usable(e, a))
                continue;
            volatile uint64_t *p = (volatile uint64_t *)a;
            touched = true;
            w->words++;
            if (!w->verify) {
                *p = pattern(a);
            } else {
                uint64_t got = *p;
                if (got != pattern(a) && w->bad++ == 0) {
                    w->first_bad = a;
                    w->first_got = got;
                }
            }
        }
        if (touched) {
            w->mib_touched++;
            if (mib >= 4 * GIB)
                w->mib_high++;
        }
    }
}

bool test_memory(struct test_result *r)
{
    uint64_t ram = 0, ram_high = 0, unmapped = 0;
    unsigned regions = 0;
    struct walk w = {0};

    if (boot.memmap_count == 0)
        return fail(r, "no memmap in hvm_start_info (version %u)", boot.version);

    /* Pass 1 writes everything before pass 2 reads anything, so aliasing shows up. */
    uint64_t tsc[3];
    tsc[0] = rdtsc();
    for (int pass = 0; pass < 2; pass++) {
        w.verify = pass == 1;
        w.mib_touched = w.mib_high = w.words = 0;
        for (uint32_t i = 0; i < boot.memmap_count; i++)
            if (boot.memmap[i].type == MEMMAP_RAM)
                walk_region(&boot.memmap[i], &w);
        tsc[pass + 1] = rdtsc();
    }
    for (uint32_t i = 0; i < boot.memmap_count; i++) {
        const struct hvm_memmap_entry *e = &boot.memmap[i];
        if (e->type != MEMMAP_RAM)
            continue;
        regions++;
        ram += e->size;
        uint64_t end = e->addr + e->size;
        if (end > 4 * GIB)
            ram_high += end - (e->addr > 4 * GIB ? e->addr : 4 * GIB);
        if (!paging_is_mapped(end - 1))
            unmapped++;
    }

    detail(r, "ram=%lu regions=%u touched=%lu high=%lu words=%lu", ram / MIB, regions, w.mib_touched,
           w.mib_high, w.words);
    /* Cycles per pass: the write pass includes the host faulting the memory in. */
    detail(r, " write_tsc=%lu read_tsc=%lu", tsc[1] - tsc[0], tsc[2] - tsc[1]);
    if (unmapped)
        detail(r, " unmapped_regions=%lu", unmapped);
    if (w.bad)
        return fail(r, " bad=%lu first=0x%lx got=0x%lx want=0x%lx", w.bad, w.first_bad, w.first_got,
                    pattern(w.first_bad));
    if (regions == 0 || w.mib_touched == 0)
        return fail(r, " no usable RAM found");
    if (ram_high >= MIB && w.mib_high == 0)
        return fail(r, " RAM above 4 GiB not touched");
    return true;
}
