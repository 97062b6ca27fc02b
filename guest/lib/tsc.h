/* rdtsc-based waits. Nothing is calibrated: the TSC is assumed to tick at
 * TSC_MIN_HZ..TSC_MAX_HZ, so "at least N ms" waits use the maximum rate and
 * "at most" budgets the minimum one. */
#ifndef LIB_TSC_H
#define LIB_TSC_H

#include <stdint.h>
#include "lib/cpu.h"

#define TSC_MIN_PER_MS 1000000ull       /* >= 1 GHz */
#define TSC_MAX_PER_MS 5000000ull       /* <= 5 GHz */

/* Busy-wait at least `ms` milliseconds (up to 5x longer on a slow TSC). */
static inline void tsc_delay_ms_at_least(uint64_t ms)
{
    uint64_t end = rdtsc() + ms * TSC_MAX_PER_MS;
    while ((int64_t)(rdtsc() - end) < 0)
        cpu_pause();
}

static inline uint64_t tsc_deadline_cycles(uint64_t cycles) { return rdtsc() + cycles; }
static inline int tsc_passed(uint64_t deadline) { return (int64_t)(rdtsc() - deadline) >= 0; }

#endif
