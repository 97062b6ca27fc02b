/* The I/O APIC at 0xFEC00000 (82093AA register model): IOREGSEL at +0x00, IOWIN at +0x10, both
 * accessed as 32-bit words. Used to route one INTx line to a vector that a test then finds in
 * the local APIC IRR (IF stays 0: nothing is ever delivered to the CPU). */
#ifndef LIB_IOAPIC_H
#define LIB_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>

#define IOAPIC_BASE   0xfec00000ull
#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN    0x10
#define IOAPIC_REG_ID     0x00
#define IOAPIC_REG_VER    0x01
#define IOAPIC_REG_RTE(n) (0x10 + 2 * (n))      /* low dword; high dword at +1 */

#define IOAPIC_RTE_LEVEL    (1ull << 15)
#define IOAPIC_RTE_REMOTE_IRR (1ull << 14)
#define IOAPIC_RTE_LOW_ACTIVE (1ull << 13)
#define IOAPIC_RTE_PENDING  (1ull << 12)        /* delivery status */
#define IOAPIC_RTE_MASKED   (1ull << 16)
#define IOAPIC_RTE_DEST_SHIFT 56

uint32_t ioapic_read(uint32_t reg);
void ioapic_write(uint32_t reg, uint32_t v);
/* Redirection entries (from the version register's maximum entry + 1). */
unsigned ioapic_pins(void);
uint64_t ioapic_rte_get(unsigned pin);
/* Writes the entry masked first, then the high dword, then the low dword as given. */
void ioapic_rte_set(unsigned pin, uint64_t rte);

#endif
