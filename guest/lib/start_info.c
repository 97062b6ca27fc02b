#include "lib/start_info.h"
#include "lib/cmdline.h"
#include "lib/memrange.h"
#include "lib/string.h"

struct boot_info boot;

bool start_info_load(uint64_t paddr, bool pvh)
{
    const struct hvm_start_info *si = (const struct hvm_start_info *)paddr;
    boot.pvh = pvh;
    boot.start_info_paddr = paddr;
    if (!paddr || si->magic != HVM_START_MAGIC) {
        cmdline_parse("");
        return false;
    }
    memrange_reserve(paddr, sizeof(*si));
    boot.version = si->version;
    boot.cmdline_paddr = si->cmdline_paddr;
    boot.rsdp_paddr = si->rsdp_paddr;

    const char *cmdline = (const char *)si->cmdline_paddr;
    if (cmdline) {
        memrange_reserve(si->cmdline_paddr, strnlen(cmdline, CMDLINE_MAX) + 1);
        cmdline_parse(cmdline);
    } else {
        cmdline_parse("");
    }

    if (si->version >= 1 && si->memmap_paddr && si->memmap_entries) {
        const struct hvm_memmap_entry *map = (const struct hvm_memmap_entry *)si->memmap_paddr;
        boot.memmap_paddr = si->memmap_paddr;
        boot.memmap_count = si->memmap_entries < MEMMAP_MAX ? si->memmap_entries : MEMMAP_MAX;
        memcpy(boot.memmap, map, boot.memmap_count * sizeof(*map));
        memrange_reserve(si->memmap_paddr, si->memmap_entries * sizeof(*map));
    }
    return true;
}
