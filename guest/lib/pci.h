/* PCI configuration mechanism #1 (ports 0xCF8/0xCFC), bus 0 enumeration, BAR decoding and
 * sizing, capability lists, and a small allocator for BARs the firmware left unassigned.
 *
 * Nothing here enables interrupts. Sizing a BAR briefly turns the matching decode bit in
 * COMMAND off (and back on), so no device may be in use by the caller while pci_scan runs. */
#ifndef LIB_PCI_H
#define LIB_PCI_H

#include <stdbool.h>
#include <stdint.h>

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA    0xcfc

/* Configuration header offsets. */
#define PCI_VENDOR_ID      0x00
#define PCI_DEVICE_ID      0x02
#define PCI_COMMAND        0x04
#define PCI_STATUS         0x06
#define PCI_REVISION       0x08
#define PCI_PROG_IF        0x09
#define PCI_SUBCLASS       0x0a
#define PCI_CLASS          0x0b
#define PCI_HEADER_TYPE    0x0e
#define PCI_BAR0           0x10
#define PCI_SUBSYS_VENDOR  0x2c
#define PCI_SUBSYS_ID      0x2e
#define PCI_CAP_PTR        0x34

#define PCI_COMMAND_IO      0x0001
#define PCI_COMMAND_MEMORY  0x0002
#define PCI_COMMAND_MASTER  0x0004
#define PCI_COMMAND_INTX_OFF 0x0400
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_HEADER_MULTIFN  0x80

#define PCI_CAP_ID_MSIX    0x11
#define PCI_CAP_ID_VENDOR  0x09

/* The 32-bit PCI hole the allocator and the relocation test use (below the IOAPIC). */
#define PCI_HOLE_START 0xc0000000ull
#define PCI_HOLE_END   0xfec00000ull
#define PCI_IO_START   0xc000u
#define PCI_IO_END     0x10000u

enum pci_bar_type { PCI_BAR_NONE = 0, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_bar {
    uint8_t type;           /* enum pci_bar_type; NONE also for the upper half of a 64-bit BAR */
    bool prefetch;
    uint64_t addr;          /* as programmed (0 = unassigned) */
    uint64_t size;          /* from sizing; 0 if the BAR is not implemented */
};

#define PCI_MAX_BARS 6
#define PCI_MAX_FUNCS 64

struct pci_func {
    uint8_t bus, dev, fn;
    uint16_t vendor, device;
    uint16_t subsys_vendor, subsys_id;
    uint8_t class_code, subclass, prog_if, revision, header_type;
    unsigned nbars;         /* BAR registers in this header type (6, 2 or 0) */
    struct pci_bar bar[PCI_MAX_BARS];
};

/* Configuration space access for bus/device/function (offset 0..255). */
uint8_t pci_cfg_read8(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off);
uint16_t pci_cfg_read16(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off);
uint32_t pci_cfg_read32(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off);
void pci_cfg_write8(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off, uint8_t v);
void pci_cfg_write16(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off, uint16_t v);
void pci_cfg_write32(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off, uint32_t v);

/* Same, for an enumerated function. */
uint8_t pci_read8(const struct pci_func *f, uint8_t off);
uint16_t pci_read16(const struct pci_func *f, uint8_t off);
uint32_t pci_read32(const struct pci_func *f, uint8_t off);
void pci_write8(const struct pci_func *f, uint8_t off, uint8_t v);
void pci_write16(const struct pci_func *f, uint8_t off, uint16_t v);
void pci_write32(const struct pci_func *f, uint8_t off, uint32_t v);

/* Enumerates every device and function of bus 0 (functions 1-7 only when function 0 has the
 * multi-function bit) and sizes their BARs. Returns the number found; results stay valid
 * until the next scan. */
unsigned pci_scan(void);
unsigned pci_count(void);
struct pci_func *pci_get(unsigned i);
/* The n-th function (0-based) with this vendor and device ID, or NULL. */
struct pci_func *pci_find(uint16_t vendor, uint16_t device, unsigned n);
struct pci_func *pci_find_at(uint8_t bus, uint8_t dev, uint8_t fn);

/* Re-reads and re-sizes the BARs of one function. */
void pci_read_bars(struct pci_func *f);

/* Capabilities: first offset of a capability with this ID at or after `start` (0 = from the
 * head of the list), or 0 if none. pci_cap_next gives the next one of any ID. */
uint8_t pci_cap_find(const struct pci_func *f, uint8_t id, uint8_t start);
uint8_t pci_cap_first(const struct pci_func *f);
uint8_t pci_cap_next(const struct pci_func *f, uint8_t cap);

/* Sets bits in COMMAND (e.g. PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER). */
void pci_enable(const struct pci_func *f, uint16_t command_bits);

/* Programs BAR i (both halves for a 64-bit BAR) with decoding of its type disabled during the
 * write, and restores COMMAND afterwards. Updates f->bar[i].addr. */
void pci_bar_set(struct pci_func *f, unsigned i, uint64_t addr);

/* true if [base, base + size) overlaps no assigned memory BAR of any scanned function (other
 * than `except` BAR `except_bar`), no memmap range of any type, the LAPIC, IOAPIC or HPET. */
bool pci_mem_range_free(uint64_t base, uint64_t size, const struct pci_func *except, int except_bar);

/* Makes sure BAR i has an address the guest can reach: a memory BAR that is unassigned (0)
 * or above 4 GiB is given a free, naturally aligned range in [PCI_HOLE_START, PCI_HOLE_END);
 * an unassigned I/O BAR one in [PCI_IO_START, PCI_IO_END). Returns false if none fits.
 * *moved (optional) says whether the BAR was (re)assigned. */
bool pci_bar_ensure_assigned(struct pci_func *f, unsigned i, bool *moved);

static inline bool pci_is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

#endif
