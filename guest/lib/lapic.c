#include "lib/lapic.h"
#include "lib/cpu.h"
#include "lib/io.h"

uint32_t lapic_read(uint32_t reg) { return mmio_read32(LAPIC_BASE + reg); }
void lapic_write(uint32_t reg, uint32_t value) { mmio_write32(LAPIC_BASE + reg, value); }

bool lapic_send_ipi(uint32_t dest_apic_id, uint32_t icr_low)
{
    lapic_write(LAPIC_ICR_HIGH, dest_apic_id << 24);
    lapic_write(LAPIC_ICR_LOW, icr_low);
    for (int i = 0; i < 100000; i++) {
        if (!(lapic_read(LAPIC_ICR_LOW) & ICR_DELIVERY_PENDING))
            return true;
        cpu_pause();
    }
    return false;
}

uint32_t lapic_sw_enable(void)
{
    uint32_t svr = lapic_read(LAPIC_SVR);
    if (!(svr & LAPIC_SVR_ENABLE))
        lapic_write(LAPIC_SVR, svr | LAPIC_SVR_ENABLE);
    return svr;
}

bool lapic_irr_pending(uint8_t vector)
{
    return (lapic_read(LAPIC_IRR + 0x10 * (vector / 32)) >> (vector % 32)) & 1;
}
