/* Xen PVH start info (xen/include/public/arch-x86/hvm/start_info.h layout), and the
 * guest's own copy of what it needs from it. Both entries pass its physical address. */
#ifndef LIB_START_INFO_H
#define LIB_START_INFO_H

#include <stdbool.h>
#include <stdint.h>

#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    /* version >= 1 */
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};

struct hvm_memmap_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};

#define MEMMAP_RAM 1            /* E820 usable */
#define MEMMAP_MAX 128

/* Copied out of guest memory at boot, so tests may freely overwrite the originals. */
struct boot_info {
    bool pvh;                   /* entered via the PVH 32-bit entry (else 64-bit entry) */
    uint64_t start_info_paddr;
    uint32_t version;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;
    uint32_t memmap_count;      /* entries copied (<= MEMMAP_MAX) */
    struct hvm_memmap_entry memmap[MEMMAP_MAX];
};

extern struct boot_info boot;

/* Fills `boot` from the start info at paddr. Returns false (and leaves an empty
 * memmap) if the magic is wrong. The command line is handed to cmdline_parse. */
bool start_info_load(uint64_t paddr, bool pvh);

#endif
