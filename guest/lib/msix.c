#include "lib/msix.h"
#include "lib/cpu.h"
#include "lib/io.h"
#include "lib/lapic.h"
#include "lib/tsc.h"

bool msix_open(struct pci_func *f, struct msix *m)
{
    *m = (struct msix){.f = f};
    m->cap = pci_cap_find(f, PCI_CAP_ID_MSIX, 0);
    if (!m->cap)
        return false;
    m->entries = (uint16_t)((pci_read16(f, m->cap + 2) & MSIX_CTRL_SIZE) + 1);
    uint32_t t = pci_read32(f, m->cap + 4), p = pci_read32(f, m->cap + 8);
    m->table_bar = t & 7;
    m->table_off = t & ~7u;
    m->pba_bar = p & 7;
    m->pba_off = p & ~7u;
    if (m->table_bar >= PCI_MAX_BARS || m->pba_bar >= PCI_MAX_BARS)
        return false;
    const struct pci_bar *tb = &f->bar[m->table_bar], *pb = &f->bar[m->pba_bar];
    if (tb->type != PCI_BAR_MEM32 && tb->type != PCI_BAR_MEM64)
        return false;
    if (!pci_bar_ensure_assigned(f, m->table_bar, 0) || !pci_bar_ensure_assigned(f, m->pba_bar, 0))
        return false;
    if ((uint64_t)m->table_off + (uint64_t)m->entries * MSIX_ENTRY_SIZE > tb->size ||
        (uint64_t)m->pba_off + ((m->entries + 63u) / 64u) * 8u > pb->size)
        return false;
    m->table = tb->addr + m->table_off;
    m->pba = pb->addr + m->pba_off;
    pci_enable(f, PCI_COMMAND_MEMORY);
    return true;
}

static uint64_t entry(struct msix *m, unsigned i) { return m->table + (uint64_t)i * MSIX_ENTRY_SIZE; }

void msix_mask_entry(struct msix *m, unsigned i, bool masked)
{
    uint32_t c = mmio_read32(entry(m, i) + MSIX_ENTRY_CTRL);
    c = masked ? c | MSIX_ENTRY_MASKED : c & ~(uint32_t)MSIX_ENTRY_MASKED;
    mmio_write32(entry(m, i) + MSIX_ENTRY_CTRL, c);
}

void msix_set_entry(struct msix *m, unsigned i, uint8_t apic_id, uint8_t vector)
{
    msix_mask_entry(m, i, true);
    mmio_write32(entry(m, i) + MSIX_ENTRY_ADDR_LO, MSI_ADDR_BASE | (uint32_t)apic_id << 12);
    mmio_write32(entry(m, i) + MSIX_ENTRY_ADDR_HI, 0);
    mmio_write32(entry(m, i) + MSIX_ENTRY_DATA, vector);   /* fixed delivery, edge, assert */
    msix_mask_entry(m, i, false);
}

uint16_t msix_control(struct msix *m) { return pci_read16(m->f, m->cap + 2); }

void msix_enable(struct msix *m)
{
    uint16_t c = msix_control(m);
    /* Enable with the function masked first, then unmask (what drivers do). */
    pci_write16(m->f, m->cap + 2, (uint16_t)(c | MSIX_CTRL_ENABLE | MSIX_CTRL_FUNCMASK));
    pci_write16(m->f, m->cap + 2, (uint16_t)((c | MSIX_CTRL_ENABLE) & ~MSIX_CTRL_FUNCMASK));
}

void msix_disable(struct msix *m)
{
    uint16_t c = msix_control(m);
    pci_write16(m->f, m->cap + 2, (uint16_t)(c & ~(MSIX_CTRL_ENABLE | MSIX_CTRL_FUNCMASK)));
}

bool msix_pending(struct msix *m, unsigned i)
{
    return (mmio_read32(m->pba + (i / 32) * 4) >> (i % 32)) & 1;
}

bool lapic_wait_irr(uint8_t vector, uint64_t ms)
{
    uint64_t deadline = rdtsc() + ms * TSC_MAX_PER_MS;
    while (!lapic_irr_pending(vector)) {
        if (tsc_passed(deadline))
            return false;
        cpu_pause();
    }
    return true;
}
