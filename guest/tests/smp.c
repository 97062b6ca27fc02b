/* Starts every AP with INIT-SIPI-SIPI through the local APIC and has each one record
 * its APIC ID. APs come up through a real-mode trampoline (boot/ap_trampoline.S) on
 * the guest's own page tables, take a stack slot, check in and then spin with pause
 * forever: no interrupt, no LAPIC timer, no hlt. */
#include "tests/test.h"
#include "boot/layout.h"
#include "lib/cmdline.h"
#include "lib/cpu.h"
#include "lib/lapic.h"
#include "lib/memrange.h"
#include "lib/start_info.h"
#include "lib/string.h"
#include "lib/tsc.h"

#define PAGE 4096ull

extern const char ap_tramp_start[], ap_tramp_end[], ap_tramp32[], ap_tramp_far32[];

/* Written by APs. smp_ap_next is the slot counter ap_trampoline.S hands out with lock xadd. */
volatile uint32_t smp_ap_next;
static volatile uint32_t ap_count;
static volatile uint32_t ap_cpuid_ids[SMP_MAX_CPUS];
static volatile uint32_t ap_lapic_ids[SMP_MAX_CPUS];
static volatile uint64_t ap_tsc[SMP_MAX_CPUS];

void ap_main(uint32_t slot) __attribute__((noreturn));

void ap_main(uint32_t slot)
{
    ap_tsc[slot] = rdtsc();
    ap_cpuid_ids[slot] = cpu_apic_id();
    ap_lapic_ids[slot] = lapic_read(LAPIC_ID) >> 24;
    __atomic_fetch_add(&ap_count, 1, __ATOMIC_RELEASE);
    cpu_park();
}

/* A page below 1 MiB for the SIPI vector: usable RAM, not used by anything we know of. */
static uint64_t find_trampoline_page(void)
{
    for (uint64_t page = 0x8000; page < 0xa0000; page += PAGE) {
        if (memrange_is_reserved(page, PAGE))
            continue;
        for (uint32_t i = 0; i < boot.memmap_count; i++) {
            const struct hvm_memmap_entry *e = &boot.memmap[i];
            if (e->type == MEMMAP_RAM && e->addr <= page && page + PAGE <= e->addr + e->size)
                return page;
        }
    }
    return 0;
}

/* n APs checked in. IDs must be distinct, include the BSP's, and agree with the LAPIC ID
 * register (a VMM that gives every vCPU the same CPUID leaf 1 fails here). */
static bool report(struct test_result *r, uint32_t n, uint32_t bsp_id, uint32_t bsp_lapic, uint64_t t_sipi,
                   uint64_t want_cpus)
{
    uint32_t ids[SMP_MAX_CPUS], lapic[SMP_MAX_CPUS];
    uint64_t slowest = 0;
    ids[0] = bsp_id;
    lapic[0] = bsp_lapic;
    for (uint32_t i = 0; i < n; i++) {
        ids[i + 1] = ap_cpuid_ids[i];
        lapic[i + 1] = ap_lapic_ids[i];
        if (ap_tsc[i] - t_sipi > slowest)
            slowest = ap_tsc[i] - t_sipi;
    }

    detail(r, "cpus=%u ids=", n + 1);
    for (uint32_t i = 0; i <= n; i++)
        detail(r, i ? ",%u" : "%u", ids[i]);
    if (n)
        detail(r, " sipi_to_last_ap_tsc=%lu", slowest);

    bool ok = true;
    for (uint32_t i = 0; i <= n; i++) {
        if (ids[i] != lapic[i]) {
            ok = fail(r, " cpu%u: CPUID APIC ID %u but LAPIC ID register %u", i, ids[i], lapic[i]);
            break;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (ids[i] == ids[j]) {
                ok = fail(r, " duplicate APIC ID %u%s", ids[i], j == 0 ? " (the BSP's)" : "");
                break;
            }
        }
        if (!ok)
            break;
    }
    if (want_cpus && n + 1 != want_cpus)
        ok = fail(r, " expected cpus=%lu", want_cpus);
    return ok;
}

bool test_smp(struct test_result *r)
{
    static uint64_t page;
    uint64_t want_cpus = 0;
    bool have_want = cmdline_get_u64("cpus", &want_cpus);

    if (!page) {
        page = find_trampoline_page();
        if (!page)
            return fail(r, "no free RAM page below 1 MiB for the AP trampoline");
        memrange_reserve(page, PAGE);
    }
    size_t size = (size_t)(ap_tramp_end - ap_tramp_start);
    memcpy((void *)page, ap_tramp_start, size);
    *(volatile uint32_t *)(page + (uint64_t)(ap_tramp_far32 - ap_tramp_start)) =
        (uint32_t)(page + (uint64_t)(ap_tramp32 - ap_tramp_start));

    /* A re-run re-INITs the parked APs, so the slots can be handed out again. */
    smp_ap_next = 0;
    ap_count = 0;
    for (int i = 0; i < SMP_MAX_CPUS; i++)
        ap_cpuid_ids[i] = ap_lapic_ids[i] = 0xffffffff;
    barrier();

    uint32_t bsp_id = cpu_apic_id();
    uint32_t bsp_lapic = lapic_read(LAPIC_ID) >> 24;
    if (!lapic_send_ipi(0, ICR_ALL_BUT_SELF | ICR_LEVEL_ASSERT | ICR_INIT))
        return fail(r, "INIT IPI stuck pending");
    tsc_delay_ms_at_least(10);
    uint64_t t_sipi = rdtsc();
    for (int i = 0; i < 2; i++) {
        if (!lapic_send_ipi(0, ICR_ALL_BUT_SELF | ICR_LEVEL_ASSERT | ICR_STARTUP | (uint32_t)(page >> 12)))
            return fail(r, "SIPI stuck pending");
        tsc_delay_ms_at_least(1);
    }

    /* No interrupts, so no timer: poll the check-in count against the TSC.
     * With cpus=N: wait (up to MAX_WAIT) for N-1 APs, then QUIET more to catch extras.
     * Without: stop once the count has been stable for QUIET, but not before FIRST_WAIT,
     * since AP vCPU threads may be slow to get going on a loaded host. (Measured under
     * QEMU on PVM: all APs check in about 0.3 ms after the first SIPI.) */
    const uint64_t QUIET = 50 * TSC_MIN_PER_MS;         /* <= 50 ms */
    const uint64_t FIRST_WAIT = 250 * TSC_MIN_PER_MS;   /* <= 250 ms */
    const uint64_t MAX_WAIT = 10000 * TSC_MIN_PER_MS;   /* <= 10 s */
    uint32_t seen = 0;
    uint64_t last_change = rdtsc();
    for (;;) {
        uint32_t c = __atomic_load_n(&ap_count, __ATOMIC_ACQUIRE);
        uint64_t now = rdtsc();
        if (c != seen) {
            seen = c;
            last_change = now;
        }
        if (now - t_sipi > MAX_WAIT)
            break;
        bool stable = now - last_change > QUIET;
        if (have_want ? (seen + 1 >= want_cpus && stable) : (stable && (seen || now - t_sipi > FIRST_WAIT)))
            break;
        cpu_pause();
    }
    uint32_t n = seen < SMP_MAX_CPUS - 1 ? seen : SMP_MAX_CPUS - 1;
    return report(r, n, bsp_id, bsp_lapic, t_sipi, have_want ? want_cpus : 0);
}
