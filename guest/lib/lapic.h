/* Local APIC in xAPIC mode, through its MMIO page. Used to send IPIs, read IDs and look at
 * pending vectors in IRR; nothing here accepts interrupts (IF stays 0). */
#ifndef LIB_LAPIC_H
#define LIB_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

#define LAPIC_BASE 0xfee00000ull
#define LAPIC_ID        0x020
#define LAPIC_VERSION   0x030
#define LAPIC_SVR       0x0f0
#define LAPIC_IRR       0x200   /* 8 registers, 0x10 apart: vectors 32*i .. 32*i+31 */
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

#define LAPIC_SVR_ENABLE 0x100
/* Sets the APIC software-enable bit in SVR if it is clear: a
 * software-disabled local APIC drops fixed interrupts instead of latching them in IRR; the
 * spurious vector is kept. IF stays 0, so nothing is ever delivered to the CPU. Returns the old SVR. */
uint32_t lapic_sw_enable(void);
/* true if the vector's bit is set in the IRR (0xFEE00200 + 0x10 * (vector / 32), bit vector % 32). */
bool lapic_irr_pending(uint8_t vector);

#endif
