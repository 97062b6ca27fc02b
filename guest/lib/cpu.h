/* Small CPU helpers: cpuid, pause, rdtsc, control registers, compiler barrier. */
#ifndef LIB_CPU_H
#define LIB_CPU_H

#include <stdint.h>

struct cpuid_regs {
    uint32_t eax, ebx, ecx, edx;
};

static inline struct cpuid_regs cpuid(uint32_t leaf, uint32_t subleaf)
{
    struct cpuid_regs r;
    __asm__ volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
    return r;
}

static inline void cpu_pause(void) { __asm__ volatile("pause" ::: "memory"); }

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline void write_cr3(uint64_t v) { __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory"); }

static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

/* Park this CPU forever. Never hlt: with an in-kernel irqchip a halted vCPU
 * does not come back to the VMM. */
static inline __attribute__((noreturn)) void cpu_park(void)
{
    for (;;)
        cpu_pause();
}

/* APIC ID of the executing CPU from CPUID leaf 1 EBX[31:24]. */
static inline uint32_t cpu_apic_id(void) { return cpuid(1, 0).ebx >> 24; }

#endif
