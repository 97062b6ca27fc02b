#include "lib/memrange.h"

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
