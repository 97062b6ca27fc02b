#include "lib/memrange.h"
#include "boot/paging.h"
#include "lib/start_info.h"

#define MAX_RANGES 16

struct range {
    uint64_t base, end;
};

static struct range ranges[MAX_RANGES];
static unsigned nranges;

extern char __image_start[], __image_end[];

uint64_t image_start(void) { return (uint64_t)__image_start; }
uint64_t image_end(void) { return (uint64_t)__image_end; }

void memrange_reserve(uint64_t base, uint64_t size)
{
    if (size == 0)
        return;
    if (nranges == MAX_RANGES) {
        /* Out of slots: grow the last range to cover the new one too (over-reserving is safe). */
        struct range *r = &ranges[MAX_RANGES - 1];
        if (base < r->base)
            r->base = base;
        if (base + size > r->end)
            r->end = base + size;
        return;
    }
    ranges[nranges].base = base;
    ranges[nranges].end = base + size;
    nranges++;
}

bool memrange_is_reserved(uint64_t base, uint64_t size)
{
    uint64_t end = base + size;
    for (unsigned i = 0; i < nranges; i++)
        if (base < ranges[i].end && ranges[i].base < end)
            return true;
    return false;
}

uint64_t memrange_alloc_ram(uint64_t size)
{
    const uint64_t align = 2ull << 20;
    if (size == 0)
        return 0;
    for (uint32_t i = 0; i < boot.memmap_count; i++) {
        const struct hvm_memmap_entry *e = &boot.memmap[i];
        if (e->type != MEMMAP_RAM)
            continue;
        uint64_t end = e->addr + e->size;
        uint64_t from = e->addr > image_end() ? e->addr : image_end();
        for (uint64_t a = (from + align - 1) & ~(align - 1); a + size <= end && a + size > a; a += align) {
            if (memrange_is_reserved(a, size) || !paging_is_mapped(a) || !paging_is_mapped(a + size - 1))
                continue;
            memrange_reserve(a, size);
            return a;
        }
    }
    return 0;
}
