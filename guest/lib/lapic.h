/* Local APIC in xAPIC mode, through its MMIO page. Used only to send IPIs and read IDs;
 * nothing here enables or accepts interrupts. */
#ifndef LIB_LAPIC_H
#define LIB_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

#define LAPIC_BASE 0xfee00000ull
#define LAPIC_ID        0x020
#define LAPIC_VERSION   0x030
#define LAPIC_ICR_LOW   0x300
#define LAPIC_ICR_HIGH  0x310

#define ICR_INIT            0x00000500
#define ICR_STARTUP         0x00000600
#define ICR_DELIVERY_PENDING 0x00001000
#define ICR_LEVEL_ASSERT    0x00004000
#define ICR_ALL_BUT_SELF    0x000c0000

uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t value);
/* Writes ICR high (destination) then low (sends), then waits, bounded, for the
 * delivery-status bit to clear. Returns false if it never cleared. */
bool lapic_send_ipi(uint32_t dest_apic_id, uint32_t icr_low);

#endif
