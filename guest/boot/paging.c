#include "boot/paging.h"
#include "boot/layout.h"
#include "lib/cpu.h"
#include "lib/start_info.h"
#include "lib/string.h"

#define GIB (1ull << 30)
#define PAGE_2M (1ull << 21)
#define PT_ENTRIES 512

/* Referenced by name from entry.S and ap_trampoline.S. Not in .bss: the PVH entry fills
 * them before .bss is zeroed. */
#define PAGETABLE __attribute__((section(".bss.pagetables"), aligned(4096)))
uint64_t paging_pml4[PT_ENTRIES] PAGETABLE;
uint64_t paging_pdpt[PT_ENTRIES] PAGETABLE;
uint64_t paging_pd[PAGING_MAX_GIB][PT_ENTRIES] PAGETABLE;

static bool tables_live;

uint64_t paging_pml4_paddr(void) { return (uint64_t)paging_pml4; }

static void map_2m(uint64_t addr)
{
    uint64_t gib = addr / GIB;
    if (!(paging_pdpt[gib] & PTE_P)) {
        /* A fresh PD from the pool: clear it before it becomes reachable. */
        memset(paging_pd[gib], 0, sizeof(paging_pd[gib]));
        barrier();
        paging_pdpt[gib] = (uint64_t)paging_pd[gib] | PTE_P | PTE_W;
    }
    paging_pd[gib][(addr / PAGE_2M) % PT_ENTRIES] = addr | PTE_P | PTE_W | PTE_PS;
}

void paging_init(bool live)
{
    tables_live = live;
    if (!live) {
        /* Nobody has touched them: start from empty tables. When live, the PVH entry has
         * already cleared PML4/PDPT and mapped the first 4 MiB; rewriting those entries
         * with the same values below is harmless. */
        memset(paging_pml4, 0, sizeof(paging_pml4));
        memset(paging_pdpt, 0, sizeof(paging_pdpt));
    }
    /* Fill the four low PDs completely before linking them. */
    for (uint64_t gib = 0; gib < 4; gib++)
        for (uint64_t i = 0; i < PT_ENTRIES; i++)
            paging_pd[gib][i] = (gib * GIB + i * PAGE_2M) | PTE_P | PTE_W | PTE_PS;
    barrier();
    for (uint64_t gib = 0; gib < 4; gib++)
        paging_pdpt[gib] = (uint64_t)paging_pd[gib] | PTE_P | PTE_W;
    paging_pml4[0] = (uint64_t)paging_pdpt | PTE_P | PTE_W;

    for (uint32_t i = 0; i < boot.memmap_count; i++) {
        const struct hvm_memmap_entry *e = &boot.memmap[i];
        if (e->type != MEMMAP_RAM || e->addr + e->size <= 4 * GIB)
            continue;
        uint64_t start = e->addr < 4 * GIB ? 4 * GIB : e->addr & ~(PAGE_2M - 1);
        uint64_t end = e->addr + e->size;
        if (end > PAGING_MAX_GIB * GIB)
            end = PAGING_MAX_GIB * GIB;
        for (uint64_t a = start; a < end; a += PAGE_2M)
            map_2m(a);
    }
    if (live)
        write_cr3(paging_pml4_paddr());   /* only ever added entries, but be explicit */
}

bool paging_is_mapped(uint64_t addr)
{
    /* Entered 64-bit, the VMM's tables cover all RAM by contract. */
    return !tables_live || addr < PAGING_MAX_GIB * GIB;
}
