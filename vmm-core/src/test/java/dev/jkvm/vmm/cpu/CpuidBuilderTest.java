package dev.jkvm.vmm.cpu;

import dev.jkvm.kvm.CpuidEntry;
import dev.jkvm.kvm.Kvm;
import dev.jkvm.kvm.KvmVcpu;
import dev.jkvm.kvm.KvmVm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** CPUID bit positions from the Intel SDM (vol. 2A, CPUID) and AMD APM (vol. 3, appendix E). */
class CpuidBuilderTest {
    private static final int SIG = CpuidEntry.FLAG_SIGNIFICANT_INDEX;
    private static final int EDX_HTT = 1 << 28;
    private static final int ECX_HYPERVISOR = 1 << 31;
    private static final int LEVEL_TYPE_SMT = 1;
    private static final int LEVEL_TYPE_CORE = 2;

    // Leaf 1 as a host might report it: family/model in EAX; brand 0x00, CLFLUSH 8 qwords, a host
    // logical count 0x3f and APIC ID 0xff in EBX; feature bits in ECX/EDX without HTT or hypervisor.
    private static final CpuidEntry LEAF1 = new CpuidEntry(1, 0, 0, 0x00a00f11, 0xff3f0800, 0x7ed8320b, 0x078bfbff);

    /** Deterministic cache parameters: type (4:0), level (7:5), self-init (8), with host bits 31:14 set. */
    private static CpuidEntry cache(int subleaf, int type, int level) {
        int eax = 0xfffc0000 | (1 << 8) | (level << 5) | type;
        return new CpuidEntry(4, subleaf, SIG, eax, 0x01c0003f, 0x0000003f + subleaf, 0x00000001);
    }

    /** A synthetic "supported" list: the leaves the builder rewrites, and others it must leave alone. */
    static List<CpuidEntry> supported(int maxBasic) {
        List<CpuidEntry> l = new ArrayList<>();
        l.add(new CpuidEntry(0, 0, 0, maxBasic, 0x756e6547, 0x6c65746e, 0x49656e69));
        l.add(LEAF1);
        l.add(new CpuidEntry(2, 0, 0, 0x00feff01, 0, 0, 0x00000000));
        l.add(cache(0, 1, 1));   // L1d
        l.add(cache(1, 2, 1));   // L1i
        l.add(cache(2, 3, 2));   // L2
        l.add(cache(3, 3, 3));   // L3
        l.add(new CpuidEntry(4, 4, SIG, 0, 0, 0, 0));   // no more caches
        l.add(new CpuidEntry(7, 0, SIG, 0, 0x219c07ab, 0x0040069c, 0x00000010));
        l.add(new CpuidEntry(0xb, 0, SIG, 1, 2, 0x100, 0xdead));   // the host's topology: must not survive
        l.add(new CpuidEntry(0xb, 1, SIG, 7, 64, 0x201, 0xdead));
        l.add(new CpuidEntry(0xd, 0, SIG, 0x7, 0x340, 0x340, 0));
        l.add(new CpuidEntry(0xd, 1, SIG, 0xf, 0x340, 0, 0));
        l.add(new CpuidEntry(0x1f, 0, SIG, 1, 2, 0x100, 0xdead));
        l.add(new CpuidEntry(0x80000000, 0, 0, 0x80000021, 0x68747541, 0x444d4163, 0x69746e65));
        l.add(new CpuidEntry(0x80000001, 0, 0, 0x00a00f11, 0, 0x75c237ff, 0x2fd3fbff));
        // ECX: host NC = 0x3f, ApicIdSize = 7, PerfTscSize bits 17:16 = 3.
        l.add(new CpuidEntry(0x80000008, 0, 0, 0x00003030, 0x91bef75f, 0x0003703f, 0));
        l.add(new CpuidEntry(0x8000001e, 0, 0, 0xdead, 0x0000ff3f, 0x00000707, 0));
        l.add(new CpuidEntry(0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d));
        return List.copyOf(l);
    }

    private static final int REWRITTEN_1 = 0x1;
    private static final int REWRITTEN_4 = 0x4;

    private static Optional<CpuidEntry> find(List<CpuidEntry> l, int function, int index) {
        List<CpuidEntry> m = l.stream().filter(e -> e.function() == function && e.index() == index).toList();
        if (m.size() > 1) {
            fail("duplicate CPUID entries for 0x" + Integer.toHexString(function) + "." + index + ": " + m);
        }
        return m.stream().findFirst();
    }

    private static CpuidEntry get(List<CpuidEntry> l, int function, int index) {
        return find(l, function, index).orElseThrow(() -> new AssertionError("no CPUID 0x" + Integer.toHexString(function) + "." + index));
    }

    private static int bits(int v, int hi, int lo) {
        return (v >>> lo) & (int) ((1L << (hi - lo + 1)) - 1);
    }

    @ParameterizedTest(name = "{0} sockets x {1} cores x {2} threads")
    @CsvSource({"1, 1, 1", "1, 2, 1", "2, 1, 1", "1, 2, 2", "2, 2, 2", "2, 3, 1", "1, 3, 2", "2, 3, 2", "4, 1, 2"})
    void leaf1CarriesTheApicIdAndLogicalCount(int sockets, int cores, int threads) {
        CpuTopology t = CpuTopology.resolve(0, sockets, cores, threads, 0);
        for (int i = 0; i < t.cpus(); i++) {
            int apic = t.apicId(i);
            CpuidEntry l1 = get(CpuidBuilder.forVcpu(supported(0xd), t, apic), 1, 0);
            assertEquals(apic, bits(l1.ebx(), 31, 24), "initial APIC ID");
            assertEquals(LEAF1.ebx() & 0xffff, l1.ebx() & 0xffff, "brand index and CLFLUSH size kept");
            assertEquals(LEAF1.eax(), l1.eax());
            boolean multi = cores * threads > 1;
            assertEquals(multi, (l1.edx() & EDX_HTT) != 0, "HTT");
            if (multi) {
                assertEquals(cores * threads, bits(l1.ebx(), 23, 16), "addressable logical processors per package");
            }
            assertEquals(LEAF1.edx() & ~EDX_HTT, l1.edx() & ~EDX_HTT, "other EDX features kept");
            assertTrue((l1.ecx() & ECX_HYPERVISOR) != 0, "hypervisor bit");
            assertEquals(LEAF1.ecx(), l1.ecx() & ~ECX_HYPERVISOR, "other ECX features kept");
        }
    }

    @Test
    void httFromTheHostIsClearedForASingleThreadedPackage() {
        List<CpuidEntry> s = new ArrayList<>(supported(0xd));
        s.set(1, LEAF1.withEdx(LEAF1.edx() | EDX_HTT));
        CpuidEntry l1 = get(CpuidBuilder.forVcpu(s, CpuTopology.single(), 0), 1, 0);
        assertEquals(0, l1.edx() & EDX_HTT);
        assertEquals(0, bits(l1.ebx(), 31, 24));
    }

    @Test
    void logicalCountSaturatesInsteadOfSpillingIntoTheApicId() {
        CpuTopology t = new CpuTopology(1, 1, 300, 1, 300);
        CpuidEntry l1 = get(CpuidBuilder.forVcpu(supported(0xd), t, 5), 1, 0);
        assertEquals(5, bits(l1.ebx(), 31, 24));
        assertEquals(255, bits(l1.ebx(), 23, 16));
    }

    @ParameterizedTest(name = "{0} sockets x {1} cores x {2} threads")
    @CsvSource({"1, 1, 1", "1, 2, 1", "2, 2, 2", "2, 3, 1", "1, 3, 2", "2, 3, 2", "3, 5, 3"})
    void leafBDescribesTheTopologyAndTheX2apicId(int sockets, int cores, int threads) {
        CpuTopology t = CpuTopology.resolve(0, sockets, cores, threads, 0);
        for (int i = 0; i < t.cpus(); i++) {
            int apic = t.apicId(i);
            List<CpuidEntry> out = CpuidBuilder.forVcpu(supported(0x1f), t, apic);
            for (int leaf : new int[] {0xb, 0x1f}) {
                CpuidEntry smt = get(out, leaf, 0);
                CpuidEntry core = get(out, leaf, 1);
                CpuidEntry end = get(out, leaf, 2);
                for (CpuidEntry e : List.of(smt, core, end)) {
                    assertEquals(apic, e.edx(), "x2APIC ID in every subleaf");
                    assertEquals(SIG, e.flags() & SIG, "subleaf-indexed");
                    assertEquals(e.index(), bits(e.ecx(), 7, 0), "ECX[7:0] echoes the level number");
                }
                assertEquals(LEVEL_TYPE_SMT, bits(smt.ecx(), 15, 8));
                assertEquals(LEVEL_TYPE_CORE, bits(core.ecx(), 15, 8));
                assertEquals(0, bits(end.ecx(), 15, 8), "subleaf 2 is the invalid level that ends the walk");
                assertEquals(0, end.ebx());
                assertEquals(threads, bits(smt.ebx(), 15, 0), "logical processors at the SMT level");
                assertEquals(cores * threads, bits(core.ebx(), 15, 0), "logical processors at the core level");

                // Decode the x2APIC ID as Linux does: the shifts must separate thread, core and package.
                int smtShift = bits(smt.eax(), 4, 0);
                int coreShift = bits(core.eax(), 4, 0);
                assertTrue((1 << smtShift) >= threads, "SMT shift too small");
                assertTrue((1 << (coreShift - smtShift)) >= cores, "core shift too small");
                assertEquals(i % threads, apic & ((1 << smtShift) - 1), "thread id");
                assertEquals((i / threads) % cores, (apic >>> smtShift) & ((1 << (coreShift - smtShift)) - 1), "core id");
                assertEquals(i / (threads * cores), apic >>> coreShift, "package id");
            }
            assertFalse(out.stream().anyMatch(e -> e.edx() == 0xdead && (e.function() == 0xb || e.function() == 0x1f)),
                    "host topology subleaves survived");
        }
    }

    @Test
    void leafBIsOnlyAddedWhenTheMaximumBasicLeafReachesIt() {
        List<CpuidEntry> out = CpuidBuilder.forVcpu(supported(0xa), CpuTopology.resolve(2, 0, 0, 0, 0), 1);
        assertTrue(out.stream().noneMatch(e -> e.function() == 0xb || e.function() == 0x1f), out.toString());
        // 0x1F only when the host has it, even with a high enough maximum leaf.
        List<CpuidEntry> no1f = new ArrayList<>(supported(0x1f));
        no1f.removeIf(e -> e.function() == 0x1f);
        out = CpuidBuilder.forVcpu(no1f, CpuTopology.resolve(2, 0, 0, 0, 0), 1);
        assertTrue(out.stream().noneMatch(e -> e.function() == 0x1f));
        assertTrue(find(out, 0xb, 0).isPresent());
    }

    @ParameterizedTest(name = "{0} sockets x {1} cores x {2} threads")
    @CsvSource({"1, 1, 1", "1, 4, 1", "2, 2, 2", "1, 3, 2", "2, 6, 2"})
    void leaf4SharingAndCoreCount(int sockets, int cores, int threads) {
        CpuTopology t = CpuTopology.resolve(0, sockets, cores, threads, 0);
        List<CpuidEntry> in = supported(0xd);
        List<CpuidEntry> out = CpuidBuilder.forVcpu(in, t, 0);
        for (CpuidEntry host : in.stream().filter(e -> e.function() == 4).toList()) {
            CpuidEntry e = get(out, 4, host.index());
            if ((host.eax() & 0x1f) == 0) {
                assertEquals(host, e, "a null cache entry is passed through");
                continue;
            }
            int level = bits(host.eax(), 7, 5);
            assertEquals(cores - 1, bits(e.eax(), 31, 26), "cores per package - 1");
            int sharing = level >= 3 ? cores * threads : threads;
            assertEquals(sharing - 1, bits(e.eax(), 25, 14), "logical processors sharing the L" + level + " - 1");
            assertEquals(bits(host.eax(), 13, 0), bits(e.eax(), 13, 0), "type, level and flags kept");
            assertEquals(host.ebx(), e.ebx());
            assertEquals(host.ecx(), e.ecx());
            assertEquals(host.edx(), e.edx());
            assertEquals(host.flags(), e.flags());
        }
    }

    @Test
    void amdExtendedTopologyLeaves() {
        CpuTopology t = CpuTopology.resolve(0, 2, 3, 2, 0);
        CpuidEntry host8 = get(supported(0xd), 0x80000008, 0);
        for (int i = 0; i < t.cpus(); i++) {
            int apic = t.apicId(i);
            List<CpuidEntry> out = CpuidBuilder.forVcpu(supported(0xd), t, apic);
            CpuidEntry e8 = get(out, 0x80000008, 0);
            assertEquals(6 - 1, bits(e8.ecx(), 7, 0), "NC: threads per package - 1");
            assertEquals(t.threadBits() + t.coreBits(), bits(e8.ecx(), 15, 12), "ApicIdCoreIdSize");
            assertEquals(host8.ecx() & ~0xf0ff, e8.ecx() & ~0xf0ff, "other ECX bits kept");
            assertEquals(host8.eax(), e8.eax());
            assertEquals(host8.ebx(), e8.ebx());

            CpuidEntry e1e = get(out, 0x8000001e, 0);
            assertEquals(apic, e1e.eax(), "extended APIC ID");
            assertEquals((i / 2) % 3, bits(e1e.ebx(), 7, 0), "core id");
            assertEquals(2 - 1, bits(e1e.ebx(), 15, 8), "threads per core - 1");
        }
    }

    /** A socket with more than 256 logical CPUs: 8-bit fields saturate or wrap, never spill into their neighbours. */
    @Test
    void wideSocketsDoNotSpillIntoNeighbouringFields() {
        CpuTopology t = new CpuTopology(600, 2, 300, 1, 600);
        CpuidEntry host8 = get(supported(0xd), 0x80000008, 0);
        for (int i : new int[] {0, 299, 300, 599}) {
            int apic = t.apicId(i);
            List<CpuidEntry> out = CpuidBuilder.forVcpu(supported(0xd), t, apic);
            CpuidEntry e8 = get(out, 0x80000008, 0);
            assertEquals(host8.ecx() & ~0xf0ff, e8.ecx() & ~0xf0ff, "ECX bits outside NC and ApicIdSize changed for vCPU " + i);
            assertEquals(t.threadBits() + t.coreBits(), bits(e8.ecx(), 15, 12));
            assertEquals(255, bits(e8.ecx(), 7, 0), "NC saturates");

            CpuidEntry e1e = get(out, 0x8000001e, 0);
            assertEquals(0, bits(e1e.ebx(), 15, 8), "ThreadsPerCore - 1 disturbed by a wide core id for vCPU " + i);
            assertEquals(0, e1e.ebx() >>> 16, "EBX[31:16] reserved");
            assertEquals(0, e1e.ecx() >>> 8, "ECX[31:8] for vCPU " + i);

            CpuidEntry l1 = get(out, 1, 0);
            assertEquals(apic & 0xff, bits(l1.ebx(), 31, 24));
            assertEquals(255, bits(l1.ebx(), 23, 16));
        }
    }

    @Test
    void entriesNotAboutTopologyArePassedThroughUnchanged() {
        List<CpuidEntry> in = supported(0x1f);
        CpuTopology t = CpuTopology.resolve(0, 2, 3, 2, 0);
        List<CpuidEntry> out = CpuidBuilder.forVcpu(in, t, t.apicId(7));
        Set<Integer> rewritten = Set.of(REWRITTEN_1, REWRITTEN_4, 0xb, 0x1f, 0x80000008, 0x8000001e);
        List<CpuidEntry> untouchedIn = in.stream().filter(e -> !rewritten.contains(e.function())).toList();
        List<CpuidEntry> untouchedOut = out.stream().filter(e -> !rewritten.contains(e.function())).toList();
        assertEquals(untouchedIn, untouchedOut, "entries the builder has no business with changed, moved or went missing");
        // Nothing else disappears: every host (function, index) is still there.
        for (CpuidEntry e : in) {
            assertTrue(find(out, e.function(), e.index()).isPresent(), "lost CPUID 0x" + Integer.toHexString(e.function()) + "." + e.index());
        }
        // And nothing is duplicated.
        Set<Long> keys = new HashSet<>();
        for (CpuidEntry e : out) {
            assertTrue(keys.add(((long) e.function() << 32) | e.index()), "duplicate " + e);
        }
    }

    @Test
    void emptyAndMinimalInputs() {
        assertEquals(List.of(), CpuidBuilder.forVcpu(List.of(), CpuTopology.single(), 0));
        List<CpuidEntry> only0 = List.of(new CpuidEntry(0, 0, 0, 0xd, 1, 2, 3));
        List<CpuidEntry> out = CpuidBuilder.forVcpu(only0, CpuTopology.resolve(2, 0, 0, 0, 0), 1);
        assertEquals(only0.get(0), out.get(0));
        assertTrue(find(out, 0xb, 0).isPresent(), "leaf 0xB is synthesised when the maximum leaf reaches it");
    }

    /** The host's real KVM_GET_SUPPORTED_CPUID, a 2x2x2 topology: every vCPU gets its own APIC ID, and KVM takes the list. */
    @Test
    void realSupportedCpuidGivesEveryVcpuItsOwnApicId() {
        assumeTrue(Files.exists(Path.of("/dev/kvm")), "no /dev/kvm");
        CpuTopology t = CpuTopology.resolve(8, 2, 2, 2, 0);
        try (Kvm kvm = Kvm.open(); KvmVm vm = kvm.createVm()) {
            List<CpuidEntry> supported = kvm.supportedCpuid();
            int maxBasic = get(supported, 0, 0).eax();
            Set<Integer> seen = new HashSet<>();
            for (int i = 0; i < t.cpus(); i++) {
                int apic = t.apicId(i);
                List<CpuidEntry> cpuid = CpuidBuilder.forVcpu(supported, t, apic);
                CpuidEntry l1 = get(cpuid, 1, 0);
                assertEquals(apic, bits(l1.ebx(), 31, 24), "vCPU " + i);
                assertTrue(seen.add(bits(l1.ebx(), 31, 24)), "vCPU " + i + " shares APIC ID " + apic);
                assertEquals(4, bits(l1.ebx(), 23, 16));
                assertTrue((l1.edx() & EDX_HTT) != 0);
                if (maxBasic >= 0xb) {
                    assertEquals(apic, get(cpuid, 0xb, 0).edx());
                }
                try (KvmVcpu vcpu = vm.createVcpu(apic)) {
                    vcpu.setCpuid(cpuid);
                }
            }
            assertEquals(8, seen.size());
        }
    }
}
