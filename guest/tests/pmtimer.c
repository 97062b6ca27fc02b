/* The ACPI PM timer of the PIIX4 power-management function (00:01.3, PM block at PMBA):
 * a 24-bit counter at 3.579545 MHz. Checks it counts up, fits 24 bits, and runs three times
 * as fast as the PIT (1.193182 MHz; both are 14.31818 MHz divided by 4 and by 12).
 *
 * PIT channel 2 (gate = port 0x61 bit 0) counts down from 0xFFFF in mode 0; the test samples
 * (PM timer, latched PIT count) pairs about 30000 PIT ticks (25 ms) apart. A pair counts only if
 * the PM readings just before and after the PIT read are at most 400 ticks (~0.1 ms) apart, and
 * a round only if the PIT cannot have wrapped, so a vCPU that is descheduled mid-measurement
 * costs a retry, not a wrong answer. The median of five rounds must be within 2% of 3.000.
 * Last, OUT2 (port 0x61 bit 5) must be low after a short count is loaded and go high when it
 * expires. */
#include "tests/test.h"
#include "lib/cpu.h"
#include "lib/io.h"
#include "lib/platform.h"
#include "lib/tsc.h"

#define ROUNDS 5
#define SPAN 30000u             /* PIT ticks between the two samples of a round */
#define MAX_BRACKET 400u        /* PM ticks allowed around one PIT read */

static uint32_t pm_ticks(uint16_t pm)
{
    return inl(pm + PM_TMR) & 0xffffff;
}

static uint16_t pit2_count(void)
{
    outb(PIT_MODE, 0x80);                   /* latch channel 2 */
    uint8_t lo = inb(PIT_CH2);
    uint8_t hi = inb(PIT_CH2);
    return (uint16_t)(lo | hi << 8);
}

/* A PIT count and the PM time it was read at; false if the reading was not tight. */
static bool sample(uint16_t pm, uint16_t *pit, uint32_t *at)
{
    for (int tries = 0; tries < 20; tries++) {
        uint32_t a = pm_ticks(pm);
        uint16_t c = pit2_count();
        uint32_t b = pm_ticks(pm);
        uint32_t d = (b - a) & 0xffffff;
        if (d <= MAX_BRACKET) {
            *pit = c;
            *at = (a + d / 2) & 0xffffff;
            return true;
        }
    }
    return false;
}

/* One round: PM ticks per 1000 PIT ticks, or 0 if it could not be measured cleanly. */
static unsigned round_ratio(uint16_t pm)
{
    outb(PIT_MODE, 0xb0);                   /* channel 2, lobyte/hibyte, mode 0, binary */
    outb(PIT_CH2, 0xff);
    outb(PIT_CH2, 0xff);
    uint16_t c0, c1;
    uint32_t t0, t1;
    if (!sample(pm, &c0, &t0))
        return 0;
    uint64_t deadline = rdtsc() + 200 * TSC_MAX_PER_MS;
    do {
        if (tsc_passed(deadline))
            return 0;
        if (!sample(pm, &c1, &t1))
            return 0;
    } while ((uint16_t)(c0 - c1) < SPAN);
    uint32_t dpit = (uint16_t)(c0 - c1);
    uint32_t dpm = (t1 - t0) & 0xffffff;
    /* More PM time than one PIT period (65536 ticks) means the count may have wrapped. */
    if (dpm >= 3 * 60000u)
        return 0;
    return (unsigned)((uint64_t)dpm * 1000 / dpit);
}

bool test_pmtimer(struct test_result *r)
{
    uint16_t pm = pm_base();
    if (!pm)
        return fail(r, "no PIIX4 PM function at 00:01.3 with its I/O space enabled");
    detail(r, "pmba=0x%x", pm);

    /* Counts up, 24 bits wide. */
    uint32_t prev = pm_ticks(pm);
    unsigned moved = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t raw = inl(pm + PM_TMR);
        if (raw >> 24)
            return fail(r, " timer value 0x%x has bits above 23", raw);
        uint32_t d = (raw - prev) & 0xffffff;
        if (d > 0x800000)
            return fail(r, " timer went backwards: 0x%x then 0x%x", prev, raw);
        moved += d != 0;
        prev = raw;
    }
    if (!moved)
        return fail(r, " timer does not count");

    uint8_t p61 = inb(PORT_61);
    outb(PORT_61, (p61 & ~P61_SPKR) | P61_GATE2);    /* gate on, speaker off */
    unsigned v[ROUNDS], n = 0, failed = 0;
    while (n < ROUNDS && failed < 20) {
        unsigned x = round_ratio(pm);
        if (x)
            v[n++] = x;
        else
            failed++;
    }
    if (n < ROUNDS) {
        outb(PORT_61, p61);
        return fail(r, " could not take %u clean readings (%u retries): PIT channel 2 not counting?", ROUNDS, failed);
    }
    for (unsigned i = 1; i < n; i++)            /* insertion sort for the median */
        for (unsigned j = i; j > 0 && v[j] < v[j - 1]; j--) {
            unsigned t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    unsigned ratio = v[n / 2];
    detail(r, " pm/pit=%u.%03u (min=%u.%03u max=%u.%03u retries=%u)", ratio / 1000, ratio % 1000, v[0] / 1000,
           v[0] % 1000, v[n - 1] / 1000, v[n - 1] % 1000, failed);

    /* OUT2: low once a count is loaded in mode 0, high when it runs out (1000 ticks, ~0.84 ms). */
    outb(PIT_MODE, 0xb0);
    outb(PIT_CH2, 1000 & 0xff);
    outb(PIT_CH2, 1000 >> 8);
    bool low = !(inb(PORT_61) & P61_OUT2);
    uint64_t deadline = rdtsc() + 100 * TSC_MAX_PER_MS;
    bool high = false;
    while (!high && !tsc_passed(deadline))
        high = inb(PORT_61) & P61_OUT2;
    outb(PORT_61, p61);
    if (!low || !high)
        return fail(r, " OUT2 in port 0x61 bit 5: %s", !low ? "high right after loading the count" : "never went high");
    if (ratio < 2940 || ratio > 3060)
        return fail(r, " want 3.000 +/- 2%%");
    return true;
}
