/* The guest's own identity-mapped page tables (2 MiB pages).
 * Entered via PVH they are the live tables; entered 64-bit they are only used by APs
 * (the VMM's tables stay live, and the guest never reads or writes CR3 then). */
#ifndef BOOT_PAGING_H
#define BOOT_PAGING_H

#include <stdbool.h>
#include <stdint.h>

#define PAGING_MAX_GIB 64       /* guest-physical space the static PD pool can map */

/* Builds the [0, 4 GiB) identity map, then adds every memmap RAM range above 4 GiB
 * (below PAGING_MAX_GIB). `live` = these tables are in CR3 (PVH entry): CR3 is
 * reloaded afterwards. */
void paging_init(bool live);

/* Physical address of the PML4 (what the AP trampoline loads into CR3). */
uint64_t paging_pml4_paddr(void);

/* true if addr is mapped in the tables the BSP is running on. */
bool paging_is_mapped(uint64_t addr);

#endif
