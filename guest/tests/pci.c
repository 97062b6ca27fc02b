/* PCI bus 0 through configuration mechanism #1. Prints one `lspci -n` style line per function
 * ("PCI 00:01.0 0601: 8086:7000") and one "PCIBAR" line per implemented BAR, checks the
 * i440FX host bridge at 00:00.0 and the PIIX3 ISA bridge at 00:01.0, and that every BAR
 * sizes to a power of two. With a virtio device present it also moves the memory BAR that
 * holds the first virtio device's common configuration to another free address in the PCI
 * hole, checks the device answers there (num_queues reads the same) and no longer at the old
 * address (reads all ones or, as in QEMU, zeros; a write there does not reach the device),
 * and moves it back. */
#include "tests/test.h"
#include "lib/io.h"
#include "lib/pci.h"
#include "lib/printf.h"
#include "lib/virtio_pci.h"

#define MIB (1ull << 20)

static const char *bar_kind(const struct pci_bar *b)
{
    switch (b->type) {
    case PCI_BAR_IO: return "io";
    case PCI_BAR_MEM32: return "mem32";
    case PCI_BAR_MEM64: return "mem64";
    default: return "none";
    }
}

static bool check_func(struct test_result *r, uint8_t dev, uint16_t vendor, uint16_t device, uint8_t cls,
                       uint8_t sub)
{
    const struct pci_func *f = pci_find_at(0, dev, 0);
    if (!f)
        return fail(r, " 00:%02x.0 missing (want %04x:%04x)", dev, vendor, device);
    if (f->vendor != vendor || f->device != device || f->class_code != cls || f->subclass != sub)
        return fail(r, " 00:%02x.0 is %02x%02x %04x:%04x, want %02x%02x %04x:%04x", dev, f->class_code,
                    f->subclass, f->vendor, f->device, cls, sub, vendor, device);
    return true;
}

/* A free, size-aligned place for the BAR some multiple of 16 MiB away from where it is. */
static uint64_t relocation_target(struct pci_func *f, unsigned bi)
{
    const struct pci_bar *b = &f->bar[bi];
    for (uint64_t k = 1; k <= 64; k++) {
        for (int dir = 0; dir < 2; dir++) {
            uint64_t step = k * 16 * MIB, cand;
            if (dir == 0) {
                cand = (b->addr + step + b->size - 1) & ~(b->size - 1);
            } else {
                if (b->addr < step)
                    continue;
                cand = (b->addr - step) & ~(b->size - 1);
            }
            if (cand < PCI_HOLE_START || cand + b->size > PCI_HOLE_END)
                continue;
            if (cand < b->addr + b->size && b->addr < cand + b->size)
                continue;
            if (pci_mem_range_free(cand, b->size, f, (int)bi))
                return cand;
        }
    }
    return 0;
}

/* 1 moved and back, 0 no virtio device, -1 failed. */
static int relocation_check(struct test_result *r)
{
    struct pci_func *f = virtio_pci_find(0, 0);
    if (!f)
        return 0;
    struct virtio_caps c;
    if (!virtio_pci_caps(f, &c)) {
        fail(r, " reloc: %02x:%02x.%x lacks virtio capabilities", f->bus, f->dev, f->fn);
        return -1;
    }
    unsigned bi = c.common_bar;
    struct pci_bar *b = &f->bar[bi];
    if (b->type != PCI_BAR_MEM32 && b->type != PCI_BAR_MEM64) {
        fail(r, " reloc: common cfg in BAR%u of kind %s", bi, bar_kind(b));
        return -1;
    }
    if (!pci_bar_ensure_assigned(f, bi, 0)) {
        fail(r, " reloc: BAR%u cannot be assigned", bi);
        return -1;
    }
    pci_enable(f, PCI_COMMAND_MEMORY);
    uint64_t old = b->addr, numq = c.common_off + VIRTIO_COMMON_NUMQ;
    uint16_t nq = mmio_read16(old + numq);
    if (nq == 0xffff || nq == 0) {
        fail(r, " reloc: num_queues at BAR%u 0x%lx reads 0x%x", bi, old, nq);
        return -1;
    }
    uint64_t target = relocation_target(f, bi);
    if (!target) {
        fail(r, " reloc: no free place for BAR%u (0x%lx size 0x%lx)", bi, old, b->size);
        return -1;
    }
    pci_bar_set(f, bi, target);
    uint64_t readback = pci_read32(f, (uint8_t)(PCI_BAR0 + 4 * bi)) & ~0xfull;
    if (b->type == PCI_BAR_MEM64)
        readback |= (uint64_t)pci_read32(f, (uint8_t)(PCI_BAR0 + 4 * bi + 4)) << 32;
    uint16_t at_new = mmio_read16(target + numq);
    uint16_t at_old = mmio_read16(old + numq);
    /* A write through the old address must not reach the device: queue_select stays 0. */
    uint64_t qsel = c.common_off + VIRTIO_COMMON_Q_SELECT;
    mmio_write16(target + qsel, 0);
    mmio_write16(old + qsel, 1);
    uint16_t sel = mmio_read16(target + qsel);
    mmio_write16(target + qsel, 0);
    pci_bar_set(f, bi, old);
    uint16_t back = mmio_read16(old + numq);
    /* Nothing decodes the old range any more: real PCI reads all ones there (master abort),
     * QEMU's unassigned memory reads 0. Either is fine, the device's num_queues is not. */
    if (readback != target || at_new != nq || (at_old != 0xffff && at_old != 0) || sel != 0 || back != nq) {
        fail(r, " reloc: BAR%u 0x%lx->0x%lx reads back 0x%lx; num_queues %u: new 0x%x old 0x%x back 0x%x;"
                " queue_select after a write to the old address %u",
             bi, old, target, readback, nq, at_new, at_old, back, sel);
        return -1;
    }
    return 1;
}

bool test_pci(struct test_result *r)
{
    unsigned n = pci_scan(), nbars = 0, bad_bars = 0;
    char first_bad[64] = "";
    for (unsigned i = 0; i < n; i++) {
        const struct pci_func *f = pci_get(i);
        printf("PCI %02x:%02x.%x %02x%02x: %04x:%04x", f->bus, f->dev, f->fn, f->class_code, f->subclass,
               f->vendor, f->device);
        if (f->revision)
            printf(" (rev %02x)", f->revision);
        printf("\n");
        for (unsigned j = 0; j < PCI_MAX_BARS; j++) {
            const struct pci_bar *b = &f->bar[j];
            if (b->type == PCI_BAR_NONE)
                continue;
            nbars++;
            printf("PCIBAR %02x:%02x.%x %u %s%s addr=0x%lx size=0x%lx\n", f->bus, f->dev, f->fn, j,
                   bar_kind(b), b->prefetch ? " pref" : "", b->addr, b->size);
            if (!pci_is_pow2(b->size) && bad_bars++ == 0)
                snprintf(first_bad, sizeof(first_bad), "%02x:%02x.%x BAR%u size 0x%lx", f->bus, f->dev, f->fn, j,
                         b->size);
        }
    }
    int moved = relocation_check(r);   /* failure text first, summary after */
    detail(r, "%sdevices=%u bars=%u moved=%d", r->len ? " " : "", n, nbars, moved > 0 ? 1 : 0);
    bool ok = moved >= 0;
    if (n == 0)
        return fail(r, " no PCI functions on bus 0");
    ok = check_func(r, 0, 0x8086, 0x1237, 0x06, 0x00) && ok;
    ok = check_func(r, 1, 0x8086, 0x7000, 0x06, 0x01) && ok;
    if (bad_bars)
        ok = fail(r, " %u BARs not a power of two, first %s", bad_bars, first_bad);
    return ok;
}
