package dev.jkvm.vmm.cpu;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A CPUID feature bit under the name QEMU's -cpu option uses for it ("avx2", "x2apic",
 * "kvmclock"...). A name may cover more than one bit, as QEMU's "kvmclock" does.
 */
public record CpuFeature(String name, int leaf, int subleaf, Register register, int bit) {
    public enum Register { EAX, EBX, ECX, EDX }

    private static final Map<String, CpuFeature[]> BY_NAME = new HashMap<>();

    private static void add(String name, int leaf, int subleaf, Register reg, int bit) {
        CpuFeature f = new CpuFeature(name, leaf, subleaf, reg, bit);
        CpuFeature[] old = BY_NAME.get(name);
        if (old == null) {
            BY_NAME.put(name, new CpuFeature[] {f});
        } else {
            CpuFeature[] more = java.util.Arrays.copyOf(old, old.length + 1);
            more[old.length] = f;
            BY_NAME.put(name, more);
        }
    }

    private static void leaf(int leaf, int subleaf, Register reg, String... namesByBit) {
        for (int bit = 0; bit < namesByBit.length; bit++) {
            if (namesByBit[bit] != null) {
                for (String n : namesByBit[bit].split("\\|")) {
                    add(n, leaf, subleaf, reg, bit);
                }
            }
        }
    }

    static {
        leaf(1, 0, Register.EDX, "fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", null, "sep", "mtrr",
                "pge", "mca", "cmov", "pat", "pse36", null, "clflush", null, "ds", "acpi", "mmx", "fxsr", "sse", "sse2", "ss",
                "ht", "tm", "ia64", "pbe");
        leaf(1, 0, Register.ECX, "pni|sse3", "pclmulqdq", "dtes64", "monitor", "ds-cpl", "vmx", "smx", "est", "tm2", "ssse3",
                "cid", null, "fma", "cx16", "xtpr", "pdcm", null, "pcid", "dca", "sse4.1|sse4_1", "sse4.2|sse4_2", "x2apic",
                "movbe", "popcnt", "tsc-deadline", "aes", "xsave", "osxsave", "avx", "f16c", "rdrand", "hypervisor");
        leaf(7, 0, Register.EBX, "fsgsbase", "tsc-adjust", "sgx", "bmi1", "hle", "avx2", null, "smep", "bmi2", "erms",
                "invpcid", "rtm", null, null, "mpx", null, "avx512f", "avx512dq", "rdseed", "adx", "smap", "avx512ifma",
                null, "clflushopt", "clwb", "intel-pt", "avx512pf", "avx512er", "avx512cd", "sha-ni", "avx512bw", "avx512vl");
        leaf(7, 0, Register.ECX, null, "avx512vbmi", "umip", "pku", null, "waitpkg", "avx512vbmi2", null, "gfni", "vaes",
                "vpclmulqdq", "avx512vnni", "avx512bitalg", null, "avx512-vpopcntdq", null, "la57", null, null, null, null, null,
                "rdpid");
        leaf(7, 0, Register.EDX, null, null, "avx512-4vnniw", "avx512-4fmaps", "fsrm", null, null, null, null, null,
                "md-clear", null, null, null, "serialize", null, null, null, null, null, null, null, null, null, null, null,
                "spec-ctrl", "stibp", null, "arch-capabilities", "core-capability", "ssbd");
        leaf(0x80000001, 0, Register.EDX, null, null, null, null, null, null, null, null, null, null, null, "syscall", null,
                null, null, null, null, null, null, null, "nx|xd", null, "mmxext", null, null, "fxsr-opt", "pdpe1gb", "rdtscp",
                null, "lm|i64", "3dnowext", "3dnow");
        leaf(0x80000001, 0, Register.ECX, "lahf-lm", "cmp-legacy", "svm", "extapic", "cr8legacy", "abm", "sse4a",
                "misalignsse", "3dnowprefetch", "osvw", "ibs", "xop", "skinit", "wdt", null, "lwp", "fma4", "tce", null,
                "nodeid-msr", null, "tbm", "topoext");
        leaf(0x40000001, 0, Register.EAX, "kvmclock", "kvm-nopiodelay", "kvm-mmu", "kvmclock", "kvm-asyncpf",
                "kvm-steal-time", "kvm-pv-eoi", "kvm-pv-unhalt", null, "kvm-pv-tlb-flush", "kvm-asyncpf-vmexit", "kvm-pv-ipi",
                "kvm-poll-control", "kvm-pv-sched-yield", "kvm-asyncpf-int", "kvm-msi-ext-dest-id");
    }

    /** The bits a QEMU feature name stands for; null when the name is unknown. */
    public static CpuFeature[] named(String name) {
        CpuFeature[] f = BY_NAME.get(name.toLowerCase(Locale.ROOT).replace('_', '-'));
        return f == null ? BY_NAME.get(name.toLowerCase(Locale.ROOT)) : f;
    }

    /** QEMU's way of naming a bit in its warnings: "CPUID.01H:ECX.x2apic [bit 21]". */
    public String describe() {
        return String.format("CPUID.%02XH:%s.%s [bit %d]", leaf, register, name, bit);
    }
}
