#include "lib/pci.h"
#include "lib/io.h"
#include "lib/start_info.h"

static struct pci_func funcs[PCI_MAX_FUNCS];
static unsigned nfuncs;

static uint32_t cfg_address(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off)
{
    return 0x80000000u | (uint32_t)bus << 16 | (uint32_t)(dev & 31) << 11 | (uint32_t)(fn & 7) << 8 |
           (off & 0xfcu);
}

uint8_t pci_cfg_read8(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off)
{
    outl(PCI_CONFIG_ADDRESS, cfg_address(bus, dev, fn, off));
    return inb(PCI_CONFIG_DATA + (off & 3));
}

uint16_t pci_cfg_read16(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off)
{
    outl(PCI_CONFIG_ADDRESS, cfg_address(bus, dev, fn, off));
    return inw(PCI_CONFIG_DATA + (off & 2));
}

uint32_t pci_cfg_read32(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off)
{
    outl(PCI_CONFIG_ADDRESS, cfg_address(bus, dev, fn, off));
    return inl(PCI_CONFIG_DATA);
}

void pci_cfg_write8(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off, uint8_t v)
{
    outl(PCI_CONFIG_ADDRESS, cfg_address(bus, dev, fn, off));
    outb(PCI_CONFIG_DATA + (off & 3), v);
}

void pci_cfg_write16(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off, uint16_t v)
{
    outl(PCI_CONFIG_ADDRESS, cfg_address(bus, dev, fn, off));
    outw(PCI_CONFIG_DATA + (off & 2), v);
}

void pci_cfg_write32(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off, uint32_t v)
{
    outl(PCI_CONFIG_ADDRESS, cfg_address(bus, dev, fn, off));
    outl(PCI_CONFIG_DATA, v);
}

uint8_t pci_read8(const struct pci_func *f, uint8_t off) { return pci_cfg_read8(f->bus, f->dev, f->fn, off); }
uint16_t pci_read16(const struct pci_func *f, uint8_t off) { return pci_cfg_read16(f->bus, f->dev, f->fn, off); }
uint32_t pci_read32(const struct pci_func *f, uint8_t off) { return pci_cfg_read32(f->bus, f->dev, f->fn, off); }
void pci_write8(const struct pci_func *f, uint8_t off, uint8_t v) { pci_cfg_write8(f->bus, f->dev, f->fn, off, v); }
void pci_write16(const struct pci_func *f, uint8_t off, uint16_t v) { pci_cfg_write16(f->bus, f->dev, f->fn, off, v); }
void pci_write32(const struct pci_func *f, uint8_t off, uint32_t v) { pci_cfg_write32(f->bus, f->dev, f->fn, off, v); }

/* Writes all ones to the BAR register(s), reads the mask back and restores the original
 * value, with the decode bit for the BAR's space off in COMMAND meanwhile. Returns the number
 * of registers the BAR occupies (2 for a 64-bit memory BAR). */
static unsigned size_bar(struct pci_func *f, unsigned i)
{
    uint8_t off = (uint8_t)(PCI_BAR0 + 4 * i);
    struct pci_bar *b = &f->bar[i];
    uint32_t lo = pci_read32(f, off);
    bool io = lo & 1;
    bool is64 = !io && ((lo >> 1) & 3) == 2 && i + 1 < f->nbars;
    uint16_t cmd = pci_read16(f, PCI_COMMAND);
    uint16_t decode = io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;

    if (cmd & decode)
        pci_write16(f, PCI_COMMAND, cmd & ~decode);
    pci_write32(f, off, 0xffffffffu);
    uint32_t mlo = pci_read32(f, off);
    pci_write32(f, off, lo);
    uint32_t hi = 0, mhi = 0;
    if (is64) {
        hi = pci_read32(f, off + 4);
        pci_write32(f, off + 4, 0xffffffffu);
        mhi = pci_read32(f, off + 4);
        pci_write32(f, off + 4, hi);
    }
    if (cmd & decode)
        pci_write16(f, PCI_COMMAND, cmd);

    b->type = PCI_BAR_NONE;
    b->prefetch = false;
    b->addr = 0;
    b->size = 0;
    if (io) {
        uint32_t m = mlo & ~3u;
        if (m) {
            if (!(m & 0xffff0000u))
                m |= 0xffff0000u;     /* 16-bit I/O decoders leave the upper half 0 */
            b->type = PCI_BAR_IO;
            b->addr = lo & ~3u;
            b->size = (uint32_t)(~m + 1);
        }
        return 1;
    }
    uint64_t mask = (is64 ? (uint64_t)mhi << 32 : 0xffffffff00000000ull) | (mlo & ~0xfu);
    if ((mlo & ~0xfu) == 0 && (!is64 || mhi == 0))
        return is64 ? 2 : 1;          /* not implemented */
    b->type = is64 ? PCI_BAR_MEM64 : PCI_BAR_MEM32;
    b->prefetch = lo & 8;
    b->addr = ((uint64_t)hi << 32) | (lo & ~0xfu);
    b->size = ~mask + 1;
    return is64 ? 2 : 1;
}

void pci_read_bars(struct pci_func *f)
{
    for (unsigned i = 0; i < PCI_MAX_BARS; i++)
        f->bar[i] = (struct pci_bar){0};
    for (unsigned i = 0; i < f->nbars;)
        i += size_bar(f, i);
}

static void add_func(uint8_t bus, uint8_t dev, uint8_t fn)
{
    if (nfuncs == PCI_MAX_FUNCS)
        return;
    struct pci_func *f = &funcs[nfuncs++];
    *f = (struct pci_func){.bus = bus, .dev = dev, .fn = fn};
    uint32_t id = pci_read32(f, PCI_VENDOR_ID);
    f->vendor = (uint16_t)id;
    f->device = (uint16_t)(id >> 16);
    uint32_t class = pci_read32(f, PCI_REVISION);
    f->revision = (uint8_t)class;
    f->prog_if = (uint8_t)(class >> 8);
    f->subclass = (uint8_t)(class >> 16);
    f->class_code = (uint8_t)(class >> 24);
    f->header_type = pci_read8(f, PCI_HEADER_TYPE);
    switch (f->header_type & 0x7f) {
    case 0:
        f->nbars = 6;
        f->subsys_vendor = pci_read16(f, PCI_SUBSYS_VENDOR);
        f->subsys_id = pci_read16(f, PCI_SUBSYS_ID);
        break;
    case 1:
        f->nbars = 2;               /* PCI-to-PCI bridge */
        break;
    default:
        f->nbars = 0;               /* CardBus bridge or unknown: BARs left alone */
        break;
    }
    pci_read_bars(f);
}

unsigned pci_scan(void)
{
    nfuncs = 0;
    for (uint8_t dev = 0; dev < 32; dev++) {
        if (pci_cfg_read16(0, dev, 0, PCI_VENDOR_ID) == 0xffff)
            continue;
        add_func(0, dev, 0);
        if (!(pci_cfg_read8(0, dev, 0, PCI_HEADER_TYPE) & PCI_HEADER_MULTIFN))
            continue;
        for (uint8_t fn = 1; fn < 8; fn++)
            if (pci_cfg_read16(0, dev, fn, PCI_VENDOR_ID) != 0xffff)
                add_func(0, dev, fn);
    }
    return nfuncs;
}

unsigned pci_count(void) { return nfuncs; }

struct pci_func *pci_get(unsigned i) { return i < nfuncs ? &funcs[i] : 0; }

struct pci_func *pci_find(uint16_t vendor, uint16_t device, unsigned n)
{
    for (unsigned i = 0; i < nfuncs; i++)
        if (funcs[i].vendor == vendor && funcs[i].device == device && n-- == 0)
            return &funcs[i];
    return 0;
}

struct pci_func *pci_find_at(uint8_t bus, uint8_t dev, uint8_t fn)
{
    for (unsigned i = 0; i < nfuncs; i++)
        if (funcs[i].bus == bus && funcs[i].dev == dev && funcs[i].fn == fn)
            return &funcs[i];
    return 0;
}

uint8_t pci_cap_first(const struct pci_func *f)
{
    if (!(pci_read16(f, PCI_STATUS) & PCI_STATUS_CAP_LIST))
        return 0;
    uint8_t p = pci_read8(f, PCI_CAP_PTR) & 0xfc;
    return p >= 0x40 ? p : 0;
}

uint8_t pci_cap_next(const struct pci_func *f, uint8_t cap)
{
    uint8_t p = pci_read8(f, cap + 1) & 0xfc;
    return p >= 0x40 ? p : 0;
}

uint8_t pci_cap_find(const struct pci_func *f, uint8_t id, uint8_t start)
{
    /* Bounded: at most 48 capabilities fit in 192 bytes, so a longer walk is a loop. */
    uint8_t p = start ? start : pci_cap_first(f);
    for (int n = 0; p && n < 48; n++, p = pci_cap_next(f, p))
        if (pci_read8(f, p) == id)
            return p;
    return 0;
}

void pci_enable(const struct pci_func *f, uint16_t command_bits)
{
    uint16_t cmd = pci_read16(f, PCI_COMMAND);
    if ((cmd & command_bits) != command_bits)
        pci_write16(f, PCI_COMMAND, cmd | command_bits);
}

void pci_bar_set(struct pci_func *f, unsigned i, uint64_t addr)
{
    struct pci_bar *b = &f->bar[i];
    uint8_t off = (uint8_t)(PCI_BAR0 + 4 * i);
    uint16_t cmd = pci_read16(f, PCI_COMMAND);
    uint16_t decode = b->type == PCI_BAR_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
    if (cmd & decode)
        pci_write16(f, PCI_COMMAND, cmd & ~decode);
    uint32_t keep = pci_read32(f, off) & (b->type == PCI_BAR_IO ? 3u : 0xfu);
    pci_write32(f, off, (uint32_t)addr | keep);
    if (b->type == PCI_BAR_MEM64)
        pci_write32(f, off + 4, (uint32_t)(addr >> 32));
    if (cmd & decode)
        pci_write16(f, PCI_COMMAND, cmd);
    b->addr = addr;
}

static bool overlaps(uint64_t a, uint64_t asize, uint64_t b, uint64_t bsize)
{
    return a < b + bsize && b < a + asize;
}

bool pci_mem_range_free(uint64_t base, uint64_t size, const struct pci_func *except, int except_bar)
{
    if (overlaps(base, size, 0xfec00000ull, 0x1000) || overlaps(base, size, 0xfed00000ull, 0x400) ||
        overlaps(base, size, 0xfee00000ull, 0x1000))
        return false;
    for (uint32_t i = 0; i < boot.memmap_count; i++)
        if (overlaps(base, size, boot.memmap[i].addr, boot.memmap[i].size))
            return false;
    for (unsigned i = 0; i < nfuncs; i++) {
        for (unsigned j = 0; j < PCI_MAX_BARS; j++) {
            const struct pci_bar *b = &funcs[i].bar[j];
            if (&funcs[i] == except && (int)j == except_bar)
                continue;
            if ((b->type == PCI_BAR_MEM32 || b->type == PCI_BAR_MEM64) && b->addr && b->size &&
                overlaps(base, size, b->addr, b->size))
                return false;
        }
    }
    return true;
}

static bool io_range_free(uint64_t base, uint64_t size, const struct pci_func *except, int except_bar)
{
    for (unsigned i = 0; i < nfuncs; i++) {
        for (unsigned j = 0; j < PCI_MAX_BARS; j++) {
            const struct pci_bar *b = &funcs[i].bar[j];
            if (&funcs[i] == except && (int)j == except_bar)
                continue;
            if (b->type == PCI_BAR_IO && b->addr && overlaps(base, size, b->addr, b->size))
                return false;
        }
    }
    return true;
}

bool pci_bar_ensure_assigned(struct pci_func *f, unsigned i, bool *moved)
{
    struct pci_bar *b = &f->bar[i];
    if (moved)
        *moved = false;
    if (b->type == PCI_BAR_NONE || b->size == 0)
        return false;
    if (b->type == PCI_BAR_IO) {
        if (b->addr)
            return true;
        for (uint64_t a = PCI_IO_START; a + b->size <= PCI_IO_END; a += b->size) {
            if (io_range_free(a, b->size, f, (int)i)) {
                pci_bar_set(f, i, a);
                if (moved)
                    *moved = true;
                return true;
            }
        }
        return false;
    }
    if (b->addr && b->addr + b->size <= 0x100000000ull)
        return true;
    if (b->size > PCI_HOLE_END - PCI_HOLE_START)
        return false;
    uint64_t start = (PCI_HOLE_START + b->size - 1) & ~(b->size - 1);
    for (uint64_t a = start; a + b->size <= PCI_HOLE_END; a += b->size) {
        if (pci_mem_range_free(a, b->size, f, (int)i)) {
            pci_bar_set(f, i, a);
            if (moved)
                *moved = true;
            return true;
        }
    }
    return false;
}
