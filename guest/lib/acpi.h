/* Finding and checking the firmware's tables: ACPI (RSDP, RSDT/XSDT, FADT, FACS, DSDT, MADT)
 * and the Intel MultiProcessor Specification 1.4 table. Every pointer a table holds is checked
 * against the identity map (below 4 GiB) before it is followed, and every length before it is
 * used, so a broken table is reported rather than faulted on. */
#ifndef LIB_ACPI_H
#define LIB_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACPI_BIOS_START 0xe0000ull      /* the RSDP scan: 16-byte boundaries of 0xE0000-0xFFFFF */
#define ACPI_BIOS_END 0x100000ull
#define ACPI_MAX_TABLES 32
#define ACPI_MAX_CPUS 256

struct acpi_header {
    char signature[4];
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    uint32_t creator_id;
    uint32_t creator_revision;
} __attribute__((packed));

struct acpi_rsdp {
    char signature[8];          /* "RSD PTR " */
    uint8_t checksum;           /* bytes 0-19 */
    char oem_id[6];
    uint8_t revision;           /* 0: ACPI 1.0 (RSDT only); 2: ACPI 2.0+ */
    uint32_t rsdt;
    uint32_t length;            /* revision >= 2 */
    uint64_t xsdt;
    uint8_t extended_checksum;  /* all `length` bytes */
    uint8_t reserved[3];
} __attribute__((packed));

/* What acpi_load found; `error` says what is wrong when it returns false. */
struct acpi_info {
    uint64_t rsdp;
    bool rsdp_from_start_info;  /* else found by the scan */
    uint8_t revision;
    bool xsdt;                  /* walked the XSDT (else the RSDT) */
    unsigned ntables;
    uint64_t table[ACPI_MAX_TABLES];        /* root table entries, in order */
    char sig[ACPI_MAX_TABLES][5];
    uint64_t dsdt, facs;        /* from the FADT (0 if absent) */
    const char *error;
    char error_buf[96];
};

/* Byte sum modulo 256 (0 for a valid table). */
uint8_t acpi_sum(const void *p, size_t len);

/* The RSDP: start_info's rsdp_paddr if non-zero, else the first valid one the scan finds. 0: none. */
uint64_t acpi_find_rsdp(bool *from_start_info);

/* Finds the RSDP, checks its checksums and those of the root table and of every table it lists,
 * and of the DSDT (FACS: signature and length). */
bool acpi_load(struct acpi_info *info);

/* The first root-table entry with this signature ("APIC", "FACP"), or 0. */
uint64_t acpi_table(const struct acpi_info *info, const char *sig);

/* true if the table at addr contains the 4 bytes of name (an AML NameSeg such as "_S5_"). */
bool acpi_table_contains(uint64_t addr, const char *name);

struct madt_info {
    uint32_t lapic_addr;
    unsigned cpus;              /* enabled Processor Local APIC and x2APIC entries */
    unsigned cpus_disabled;
    uint32_t apic_id[ACPI_MAX_CPUS];
    unsigned ioapics;
    uint32_t ioapic_addr;       /* the first IOAPIC's */
    uint32_t ioapic_gsi_base;
    unsigned overrides;
    const char *error;
};

/* Walks the MADT's entries (their lengths must tile the table exactly). */
bool acpi_parse_madt(uint64_t madt, struct madt_info *out);

struct mp_info {
    uint64_t floating;          /* address of the "_MP_" structure, 0: none */
    uint64_t config;            /* the "PCMP" table */
    unsigned cpus;              /* enabled processor entries */
    unsigned ioapics;
    uint32_t ioapic_addr;
    unsigned io_interrupts;
    const char *error;
};

/* Scans the first KiB of the EBDA, 639-640 KiB and 0xF0000-0xFFFFF for a valid floating pointer,
 * then checks the configuration table it points to (checksum, entry lengths) and counts entries.
 * false with floating = 0: there is none; false otherwise: it is broken (see error). */
bool mp_load(struct mp_info *out);

#endif
