/* The firmware's ACPI tables: finds the RSDP (start_info's rsdp_paddr, else the 16-byte scan of
 * 0xE0000-0xFFFFF), checks its checksums (both for revision 2), walks the XSDT (or the RSDT for
 * revision 0) checking every table's checksum, and the DSDT's and FACS's that the FADT names.
 * The FADT, the MADT and a DSDT holding \_S5 must be there. The MADT's enabled local APIC
 * entries are the CPUs: with cpus=N there must be N, and after the smp test (which runs before
 * this one by default) as many as woke up; they must include the boot CPU's APIC ID, once each.
 * An MP table, if present, must have valid checksums (its CPU count is only reported: SeaBIOS
 * lists one CPU per package).
 *
 * No RSDP is a failure unless acpi.optional=1 (for -machine acpi=off); the MP table must then be
 * valid and, with cpus=N, list N CPUs.
 *
 * Detail: tables=FACP,APIC,... cpus=2 ioapic=0xfec00000 mp=2 */
#include "tests/test.h"
#include "lib/acpi.h"
#include "lib/cmdline.h"
#include "lib/cpu.h"
#include "lib/string.h"

/* The smp test's AP slot counter: the number of APs that woke the last time it ran (0 if it did not). */
extern volatile uint32_t smp_ap_next;

static void report_mp(struct test_result *r, const struct mp_info *mp)
{
    if (mp->floating)
        detail(r, " mp=%u", mp->cpus);
    else
        detail(r, " mp=none");
}

static bool no_acpi(struct test_result *r, const struct acpi_info *info, bool have_want, uint64_t want)
{
    uint64_t optional = 0;
    if (!cmdline_get_u64("acpi.optional", &optional) || !optional)
        return fail(r, "%s", info->error);
    struct mp_info mp;
    bool ok = mp_load(&mp);
    detail(r, "%s (acpi.optional=1)", info->error);
    if (!mp.floating)
        return true;
    if (!ok)
        return fail(r, " mp: %s", mp.error);
    detail(r, " mp=%u ioapic=0x%x", mp.cpus, mp.ioapic_addr);
    if (have_want && mp.cpus != want)
        return fail(r, " expected cpus=%lu in the MP table", want);
    return true;
}

bool test_acpi(struct test_result *r)
{
    static struct acpi_info info;
    static struct madt_info madt;
    uint64_t want = 0;
    bool have_want = cmdline_get_u64("cpus", &want);

    if (!acpi_load(&info)) {
        if (!info.rsdp)
            return no_acpi(r, &info, have_want, want);
        return fail(r, "%s", info.error);
    }
    detail(r, "tables=");
    for (unsigned i = 0; i < info.ntables; i++)
        detail(r, i ? ",%s" : "%s", info.sig[i]);
    if (info.dsdt)
        detail(r, ",DSDT");
    if (info.facs)
        detail(r, ",FACS");

    uint64_t fadt = acpi_table(&info, "FACP");
    uint64_t apic = acpi_table(&info, "APIC");
    if (!fadt)
        return fail(r, " no FADT");
    if (!info.dsdt)
        return fail(r, " no DSDT");
    if (!acpi_table_contains(info.dsdt, "_S5_"))
        return fail(r, " DSDT has no _S5");
    if (!apic)
        return fail(r, " no MADT");
    if (!acpi_parse_madt(apic, &madt))
        return fail(r, " %s", madt.error);
    detail(r, " cpus=%u ioapic=0x%x", madt.cpus, madt.ioapic_addr);

    struct mp_info mp;
    bool mp_ok = mp_load(&mp);
    report_mp(r, &mp);

    if (madt.ioapics == 0)
        return fail(r, " no IOAPIC in the MADT");
    if (madt.cpus == 0)
        return fail(r, " no enabled CPU in the MADT");
    uint32_t bsp = cpu_apic_id();
    unsigned bsp_seen = 0;
    unsigned n = madt.cpus < ACPI_MAX_CPUS ? madt.cpus : ACPI_MAX_CPUS;
    for (unsigned i = 0; i < n; i++) {
        if (madt.apic_id[i] == bsp)
            bsp_seen++;
        for (unsigned j = 0; j < i; j++)
            if (madt.apic_id[i] == madt.apic_id[j])
                return fail(r, " APIC ID %u listed twice", madt.apic_id[i]);
    }
    if (bsp_seen != 1)
        return fail(r, " the boot CPU's APIC ID %u is not in the MADT", bsp);
    if (have_want && madt.cpus != want)
        return fail(r, " expected cpus=%lu", want);
    uint32_t woke = smp_ap_next;
    if (woke && madt.cpus != woke + 1)
        return fail(r, " but the smp test woke %u CPUs", woke + 1);
    if (mp.floating && !mp_ok)
        return fail(r, " mp: %s", mp.error);
    return true;
}
