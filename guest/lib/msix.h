/* MSI-X for a PCI function: find the capability, map the table through its BAR, program
 * entries (physical destination, fixed delivery, edge) and enable. Interrupts are never taken
 * (IF = 0): a delivered message only sets the vector's bit in the local APIC IRR, which
 * lapic_irr_pending() reads. */
#ifndef LIB_MSIX_H
#define LIB_MSIX_H

#include <stdbool.h>
#include <stdint.h>
#include "lib/pci.h"

#define MSIX_CTRL_ENABLE   0x8000
#define MSIX_CTRL_FUNCMASK 0x4000
#define MSIX_CTRL_SIZE     0x07ff   /* table size - 1 */

#define MSIX_ENTRY_SIZE     16
#define MSIX_ENTRY_ADDR_LO  0
#define MSIX_ENTRY_ADDR_HI  4
#define MSIX_ENTRY_DATA     8
#define MSIX_ENTRY_CTRL     12
#define MSIX_ENTRY_MASKED   1

#define MSI_ADDR_BASE 0xfee00000u   /* + destination APIC ID << 12; physical, no redirection */

struct msix {
    struct pci_func *f;
    uint8_t cap;                /* config offset of the capability */
    uint16_t entries;
    uint8_t table_bar, pba_bar;
    uint32_t table_off, pba_off;
    uint64_t table, pba;        /* absolute MMIO addresses */
};

/* Finds the capability and maps the table (assigning its BAR if needed; enables memory
 * decoding). false if the function has no MSI-X capability or the table is unreachable. */
bool msix_open(struct pci_func *f, struct msix *m);
/* Programs entry i: address 0xFEE00000 | apic_id << 12, data = vector (fixed, edge); then
 * unmasks it. The entry is masked while it is rewritten. */
void msix_set_entry(struct msix *m, unsigned i, uint8_t apic_id, uint8_t vector);
void msix_mask_entry(struct msix *m, unsigned i, bool masked);
/* MSI-X enable with the function mask off, or everything off. */
void msix_enable(struct msix *m);
void msix_disable(struct msix *m);
uint16_t msix_control(struct msix *m);
bool msix_pending(struct msix *m, unsigned i);   /* PBA bit */

/* Waits (at least `ms` milliseconds) for the vector's bit in the local APIC IRR. */
bool lapic_wait_irr(uint8_t vector, uint64_t ms);

#endif
