#include "lib/acpi.h"
#include "lib/printf.h"
#include "lib/start_info.h"
#include "lib/string.h"

#define FOUR_GIB (1ull << 32)

uint8_t acpi_sum(const void *p, size_t len)
{
    const volatile uint8_t *b = (const volatile uint8_t *)p;
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++)
        s = (uint8_t)(s + b[i]);
    return s;
}

/* Table memory is only read below 4 GiB, where both entries identity-map everything. */
static bool readable(uint64_t addr, uint64_t len)
{
    return addr != 0 && addr < FOUR_GIB && len <= FOUR_GIB - addr;
}

static bool rsdp_valid(uint64_t a)
{
    const struct acpi_rsdp *r = (const struct acpi_rsdp *)a;
    if (memcmp(r->signature, "RSD PTR ", 8) != 0 || acpi_sum(r, 20) != 0)
        return false;
    return true;
}

uint64_t acpi_find_rsdp(bool *from_start_info)
{
    *from_start_info = false;
    if (boot.rsdp_paddr && readable(boot.rsdp_paddr, sizeof(struct acpi_rsdp))) {
        *from_start_info = true;
        return boot.rsdp_paddr;
    }
    for (uint64_t a = ACPI_BIOS_START; a < ACPI_BIOS_END; a += 16)
        if (rsdp_valid(a))
            return a;
    return 0;
}

static bool fail_with(struct acpi_info *info, const char *fmt, uint64_t a, const char *sig)
{
    snprintf(info->error_buf, sizeof(info->error_buf), fmt, sig, a);
    info->error = info->error_buf;
    return false;
}

/* Checks a table with a standard header at a: readable, length >= 36, checksum. */
static bool check_table(struct acpi_info *info, uint64_t a, const char *what)
{
    if (!readable(a, sizeof(struct acpi_header)))
        return fail_with(info, "%s at 0x%lx is not below 4 GiB", a, what);
    const struct acpi_header *h = (const struct acpi_header *)a;
    if (h->length < sizeof(*h) || !readable(a, h->length) || h->length > (1u << 20))
        return fail_with(info, "%s at 0x%lx has a bad length", a, what);
    if (acpi_sum(h, h->length) != 0)
        return fail_with(info, "%s at 0x%lx: bad checksum", a, what);
    return true;
}

bool acpi_load(struct acpi_info *info)
{
    memset(info, 0, sizeof(*info));
    info->rsdp = acpi_find_rsdp(&info->rsdp_from_start_info);
    if (!info->rsdp) {
        info->error = "no RSDP";
        return false;
    }
    const struct acpi_rsdp *r = (const struct acpi_rsdp *)info->rsdp;
    if (memcmp(r->signature, "RSD PTR ", 8) != 0)
        return fail_with(info, "%s 0x%lx has no RSD PTR signature", info->rsdp, "RSDP");
    if (acpi_sum(r, 20) != 0)
        return fail_with(info, "%s at 0x%lx: bad checksum", info->rsdp, "RSDP");
    info->revision = r->revision;
    if (r->revision >= 2) {
        if (r->length < sizeof(*r) || r->length > 4096)
            return fail_with(info, "%s at 0x%lx: bad length", info->rsdp, "RSDP");
        if (acpi_sum(r, r->length) != 0)
            return fail_with(info, "%s at 0x%lx: bad extended checksum", info->rsdp, "RSDP");
    }
    uint64_t root;
    unsigned entry_size;
    if (r->revision >= 2 && r->xsdt) {
        root = r->xsdt;
        entry_size = 8;
        info->xsdt = true;
    } else {
        root = r->rsdt;
        entry_size = 4;
    }
    const char *root_name = info->xsdt ? "XSDT" : "RSDT";
    if (!check_table(info, root, root_name))
        return false;
    const struct acpi_header *rh = (const struct acpi_header *)root;
    if (memcmp(rh->signature, root_name, 4) != 0)
        return fail_with(info, "%s at 0x%lx has another signature", root, root_name);
    unsigned n = (unsigned)((rh->length - sizeof(*rh)) / entry_size);
    for (unsigned i = 0; i < n; i++) {
        uint64_t e = root + sizeof(*rh) + (uint64_t)i * entry_size;
        uint64_t t = entry_size == 8 ? *(const uint64_t *)e : *(const uint32_t *)e;
        if (!check_table(info, t, "table"))
            return false;
        if (info->ntables < ACPI_MAX_TABLES) {
            info->table[info->ntables] = t;
            memcpy(info->sig[info->ntables], ((const struct acpi_header *)t)->signature, 4);
            info->sig[info->ntables][4] = 0;
            info->ntables++;
        }
    }

    uint64_t fadt = acpi_table(info, "FACP");
    if (fadt) {
        const uint8_t *f = (const uint8_t *)fadt;
        uint32_t len = ((const struct acpi_header *)fadt)->length;
        uint64_t dsdt = *(const uint32_t *)(f + 40);
        uint64_t facs = *(const uint32_t *)(f + 36);
        if (len >= 148 && *(const uint64_t *)(f + 140))
            dsdt = *(const uint64_t *)(f + 140);
        if (len >= 140 && *(const uint64_t *)(f + 132))
            facs = *(const uint64_t *)(f + 132);
        if (dsdt) {
            if (!check_table(info, dsdt, "DSDT"))
                return false;
            if (memcmp((const char *)dsdt, "DSDT", 4) != 0)
                return fail_with(info, "%s at 0x%lx has another signature", dsdt, "DSDT");
            info->dsdt = dsdt;
        }
        if (facs) {
            if (!readable(facs, 64) || memcmp((const char *)facs, "FACS", 4) != 0 || *(const uint32_t *)(facs + 4) < 64)
                return fail_with(info, "%s at 0x%lx is not a FACS", facs, "FACS");
            info->facs = facs;
        }
    }
    return true;
}

uint64_t acpi_table(const struct acpi_info *info, const char *sig)
{
    for (unsigned i = 0; i < info->ntables; i++)
        if (memcmp(info->sig[i], sig, 4) == 0)
            return info->table[i];
    return 0;
}

bool acpi_table_contains(uint64_t addr, const char *name)
{
    const struct acpi_header *h = (const struct acpi_header *)addr;
    const char *b = (const char *)addr;
    for (uint32_t i = sizeof(*h); i + 4 <= h->length; i++)
        if (memcmp(b + i, name, 4) == 0)
            return true;
    return false;
}

bool acpi_parse_madt(uint64_t madt, struct madt_info *out)
{
    memset(out, 0, sizeof(*out));
    const struct acpi_header *h = (const struct acpi_header *)madt;
    const uint8_t *b = (const uint8_t *)madt;
    if (h->length < 44) {
        out->error = "MADT shorter than 44 bytes";
        return false;
    }
    out->lapic_addr = *(const uint32_t *)(b + 36);
    uint32_t off = 44;
    while (off < h->length) {
        if (off + 2 > h->length || b[off + 1] < 2 || off + b[off + 1] > h->length) {
            out->error = "MADT entry lengths do not tile the table";
            return false;
        }
        uint8_t type = b[off], len = b[off + 1];
        const uint8_t *e = b + off;
        if (type == 0 && len >= 8) {            /* Processor Local APIC */
            if (*(const uint32_t *)(e + 4) & 1) {
                if (out->cpus < ACPI_MAX_CPUS)
                    out->apic_id[out->cpus] = e[3];
                out->cpus++;
            } else {
                out->cpus_disabled++;
            }
        } else if (type == 9 && len >= 16) {    /* Processor Local x2APIC */
            if (*(const uint32_t *)(e + 8) & 1) {
                if (out->cpus < ACPI_MAX_CPUS)
                    out->apic_id[out->cpus] = *(const uint32_t *)(e + 4);
                out->cpus++;
            } else {
                out->cpus_disabled++;
            }
        } else if (type == 1 && len >= 12) {    /* I/O APIC */
            if (out->ioapics++ == 0) {
                out->ioapic_addr = *(const uint32_t *)(e + 4);
                out->ioapic_gsi_base = *(const uint32_t *)(e + 8);
            }
        } else if (type == 2 && len >= 10) {    /* Interrupt Source Override */
            out->overrides++;
        }
        off += len;
    }
    return true;
}

static const uint8_t MP_ENTRY_LEN[5] = {20, 8, 8, 8, 8};

static uint64_t mp_scan(uint64_t start, uint64_t len)
{
    for (uint64_t a = start & ~15ull; a + 16 <= start + len; a += 16) {
        const uint8_t *p = (const uint8_t *)a;
        if (memcmp(p, "_MP_", 4) == 0 && p[8] >= 1 && acpi_sum(p, (size_t)p[8] * 16) == 0)
            return a;
    }
    return 0;
}

bool mp_load(struct mp_info *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t bda_ebda = 0x40e;                  /* BDA word: EBDA segment */
    __asm__("" : "+r"(bda_ebda));               /* a computed address, not a constant gcc bounds-checks */
    uint64_t ebda = (uint64_t)*(const volatile uint16_t *)bda_ebda << 4;
    uint64_t fp = 0;
    if (ebda >= 0x80000 && ebda < 0xa0000)
        fp = mp_scan(ebda, 1024);
    if (!fp)
        fp = mp_scan(0x9fc00, 1024);
    if (!fp)
        fp = mp_scan(0xf0000, 0x10000);
    if (!fp) {
        out->error = "no MP floating pointer";
        return false;
    }
    out->floating = fp;
    const uint8_t *f = (const uint8_t *)fp;
    uint64_t cfg = *(const uint32_t *)(f + 4);
    if (f[11] != 0) {
        out->error = "MP default configuration (no table)";
        return false;
    }
    if (!readable(cfg, 44) || memcmp((const char *)cfg, "PCMP", 4) != 0) {
        out->error = "MP floating pointer does not point at a PCMP table";
        return false;
    }
    out->config = cfg;
    const uint8_t *c = (const uint8_t *)cfg;
    uint16_t base_len = *(const uint16_t *)(c + 4);
    uint16_t count = *(const uint16_t *)(c + 34);
    if (base_len < 44 || acpi_sum(c, base_len) != 0) {
        out->error = "MP configuration table: bad length or checksum";
        return false;
    }
    uint32_t off = 44;
    for (unsigned i = 0; i < count; i++) {
        if (off >= base_len || c[off] > 4 || off + MP_ENTRY_LEN[c[off]] > base_len) {
            out->error = "MP configuration table: entries overrun the base table";
            return false;
        }
        const uint8_t *e = c + off;
        if (e[0] == 0 && (e[3] & 1))
            out->cpus++;
        else if (e[0] == 2 && (e[3] & 1) && out->ioapics++ == 0)
            out->ioapic_addr = *(const uint32_t *)(e + 4);
        else if (e[0] == 3)
            out->io_interrupts++;
        off += MP_ENTRY_LEN[e[0]];
    }
    if (off != base_len) {
        out->error = "MP configuration table: entry count and length disagree";
        return false;
    }
    return true;
}
