#include "lib/ioapic.h"
#include "lib/io.h"

uint32_t ioapic_read(uint32_t reg)
{
    mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
    return mmio_read32(IOAPIC_BASE + IOAPIC_WIN);
}

void ioapic_write(uint32_t reg, uint32_t v)
{
    mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
    mmio_write32(IOAPIC_BASE + IOAPIC_WIN, v);
}

unsigned ioapic_pins(void) { return ((ioapic_read(IOAPIC_REG_VER) >> 16) & 0xff) + 1; }

uint64_t ioapic_rte_get(unsigned pin)
{
    uint64_t lo = ioapic_read(IOAPIC_REG_RTE(pin)), hi = ioapic_read(IOAPIC_REG_RTE(pin) + 1);
    return hi << 32 | lo;
}

void ioapic_rte_set(unsigned pin, uint64_t rte)
{
    ioapic_write(IOAPIC_REG_RTE(pin), (uint32_t)ioapic_read(IOAPIC_REG_RTE(pin)) | (uint32_t)IOAPIC_RTE_MASKED);
    ioapic_write(IOAPIC_REG_RTE(pin) + 1, (uint32_t)(rte >> 32));
    ioapic_write(IOAPIC_REG_RTE(pin), (uint32_t)rte);
}
