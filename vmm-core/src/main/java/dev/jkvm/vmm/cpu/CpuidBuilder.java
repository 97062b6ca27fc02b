package dev.jkvm.vmm.cpu;

import dev.jkvm.kvm.CpuidEntry;

import java.util.ArrayList;
import java.util.List;

/**
 * The CPUID a vCPU sees: everything KVM supports on this host (which is what QEMU's -cpu host and
 * -cpu max give under KVM), with the topology leaves rewritten for this vCPU's place in -smp.
 */
public final class CpuidBuilder {
    private static final int LEAF1_EDX_HTT = 1 << 28;
    private static final int LEAF1_ECX_HYPERVISOR = 1 << 31;

    private CpuidBuilder() {
    }

    public static List<CpuidEntry> forVcpu(List<CpuidEntry> supported, CpuTopology topo, int apicId) {
        int maxBasic = 0;
        for (CpuidEntry e : supported) {
            if (e.function() == 0) {
                maxBasic = e.eax();
            }
        }
        List<CpuidEntry> out = new ArrayList<>(supported.size() + 4);
        for (CpuidEntry e : supported) {
            switch (e.function()) {
                case 0x1 -> out.add(leaf1(e, topo, apicId));
                case 0x4 -> out.add(leaf4(e, topo));
                case 0xB, 0x1F -> {
                    // rewritten below for every subleaf
                }
                // NC (7:0) and ApicIdCoreIdSize (15:12) are narrow fields: saturate rather than spill
                // into the reserved bits and PerfTscSize next to them when a socket is very wide.
                case 0x80000008 -> out.add(e.withEcx((e.ecx() & ~0xf0ff)
                        | (Math.min(15, topo.threadBits() + topo.coreBits()) << 12) | Math.min(255, topo.logicalPerSocket() - 1)));
                case 0x8000001E -> {
                    int coreId = (apicId >>> topo.threadBits()) & ((1 << topo.coreBits()) - 1);
                    out.add(e.withEax(apicId).withEbx((coreId & 0xff) | (((topo.threads() - 1) & 0xff) << 8))
                            .withEcx((apicId >>> (topo.threadBits() + topo.coreBits())) & 0xff));
                }
                default -> out.add(e);
            }
        }
        if (maxBasic >= 0xB) {
            addExtendedTopology(out, 0xB, topo, apicId);
        }
        if (maxBasic >= 0x1F && supported.stream().anyMatch(e -> e.function() == 0x1F)) {
            addExtendedTopology(out, 0x1F, topo, apicId);
        }
        return out;
    }

    private static CpuidEntry leaf1(CpuidEntry e, CpuTopology topo, int apicId) {
        int logical = Math.min(255, topo.logicalPerSocket());
        int ebx = (e.ebx() & 0x0000ffff) | (logical << 16) | (apicId << 24);
        int edx = logical > 1 ? e.edx() | LEAF1_EDX_HTT : e.edx() & ~LEAF1_EDX_HTT;
        return e.withEbx(ebx).withEdx(edx).withEcx(e.ecx() | LEAF1_ECX_HYPERVISOR);
    }

    /** Deterministic cache parameters: bits 31:26 count cores per package, 25:14 the sharers of the cache. */
    private static CpuidEntry leaf4(CpuidEntry e, CpuTopology topo) {
        if ((e.eax() & 0x1f) == 0) {
            return e;
        }
        int level = (e.eax() >>> 5) & 0x7;
        int sharing = level >= 3 ? topo.logicalPerSocket() : topo.threads();
        int eax = (e.eax() & 0x3fff) | (((sharing - 1) & 0xfff) << 14) | (((topo.cores() - 1) & 0x3f) << 26);
        return e.withEax(eax);
    }

    private static void addExtendedTopology(List<CpuidEntry> out, int leaf, CpuTopology topo, int apicId) {
        int smtShift = topo.threadBits();
        int coreShift = smtShift + topo.coreBits();
        int flags = CpuidEntry.FLAG_SIGNIFICANT_INDEX;
        out.add(new CpuidEntry(leaf, 0, flags, smtShift, topo.threads(), (1 << 8), apicId));
        out.add(new CpuidEntry(leaf, 1, flags, coreShift, topo.logicalPerSocket(), (2 << 8) | 1, apicId));
        out.add(new CpuidEntry(leaf, 2, flags, 0, 0, 2, apicId));
    }
}
