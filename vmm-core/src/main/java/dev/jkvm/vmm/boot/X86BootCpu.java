package dev.jkvm.vmm.boot;

import dev.jkvm.kvm.KvmRegs;
import dev.jkvm.kvm.KvmRegs.Reg;
import dev.jkvm.kvm.KvmSregs;
import dev.jkvm.kvm.KvmSregs.Seg;
import dev.jkvm.kvm.KvmVcpu;
import dev.jkvm.kvm.SegmentDescriptor;
import dev.jkvm.memory.GuestMemory;

/**
 * Puts the boot vCPU into the state a kernel expects at its entry point, either of:
 * <ul>
 *   <li>64-bit long mode with paging on, an identity map of low memory and all RAM, flat segments,
 *       and RDI = RBX = the start_info (jkvm's direct entry; no 32-bit code runs, which matters on
 *       hosts like PVM where 32-bit code is emulated);</li>
 *   <li>32-bit protected mode, paging off, flat segments, EBX = the start_info (the Xen PVH
 *       contract, which QEMU follows).</li>
 * </ul>
 */
public final class X86BootCpu {
    public static final int SEL_CODE64 = 0x08;
    public static final int SEL_DATA = 0x10;
    public static final int SEL_CODE32 = 0x18;
    public static final int SEL_TSS = 0x20;
    /** Linux's 64-bit boot protocol wants CS = __BOOT_CS (0x10) and DS/ES/SS = __BOOT_DS (0x18). */
    public static final int LINUX_BOOT_CS = 0x10;
    public static final int LINUX_BOOT_DS = 0x18;

    private static final long CR0_PE = 1L;
    private static final long CR0_MP = 1L << 1;
    private static final long CR0_ET = 1L << 4;
    private static final long CR0_NE = 1L << 5;
    private static final long CR0_WP = 1L << 16;
    private static final long CR0_PG = 1L << 31;
    private static final long CR4_PAE = 1L << 5;
    private static final long EFER_LME = 1L << 8;
    private static final long EFER_LMA = 1L << 10;
    private static final long PTE_PRESENT_RW = 0x3;
    private static final long PDE_2M = 0x83;
    private static final long GiB = 1L << 30;

    private X86BootCpu() {
    }

    /** Writes jkvm's boot GDT; the descriptors match the hidden segment state set below. */
    private static void writeGdt(GuestMemory mem) {
        long g = BootLayout.GDT;
        mem.write64(g, 0);
        mem.write64(g + SEL_CODE64, SegmentDescriptor.code64(SEL_CODE64).gdtEntry());
        mem.write64(g + SEL_DATA, SegmentDescriptor.data(SEL_DATA).gdtEntry());
        mem.write64(g + SEL_CODE32, SegmentDescriptor.code32(SEL_CODE32).gdtEntry());
        // A 16-byte system descriptor in long mode; its upper half (base 63:32) is zero.
        mem.write64(g + SEL_TSS, SegmentDescriptor.tss(SEL_TSS, 0, 0x67).gdtEntry());
        mem.write64(g + SEL_TSS + 8, 0);
    }

    private static final int GDT_LIMIT = SEL_TSS + 16 - 1;

    /**
     * The GDT of Linux's 64-bit boot protocol (boot.rst): flat 4 GiB __BOOT_CS (execute/read,
     * 64-bit) at 0x10 and __BOOT_DS (read/write) at 0x18, as the kernel's own boot GDT has them;
     * entry 1 stays null and the TSS keeps its place at 0x20, so the GDT has the same size.
     */
    static void writeLinuxGdt(GuestMemory mem) {
        long g = BootLayout.GDT;
        mem.write64(g, 0);
        mem.write64(g + 0x08, 0);
        mem.write64(g + LINUX_BOOT_CS, SegmentDescriptor.code64(LINUX_BOOT_CS).gdtEntry());
        mem.write64(g + LINUX_BOOT_DS, SegmentDescriptor.data(LINUX_BOOT_DS).gdtEntry());
        mem.write64(g + SEL_TSS, SegmentDescriptor.tss(SEL_TSS, 0, 0x67).gdtEntry());
        mem.write64(g + SEL_TSS + 8, 0);
    }

    /**
     * Builds identity page tables with 2 MiB pages over [0, mapTop), rounded up to a GiB; the
     * 32-bit hole is mapped too, so the guest reaches the LAPIC, IOAPIC and PCI BARs.
     */
    public static void writeIdentityMap(GuestMemory mem, long mapTop) {
        int gigabytes = pageDirectories(mapTop);
        mem.fill(BootLayout.PML4, 0x2000, (byte) 0);
        mem.write64(BootLayout.PML4, BootLayout.PDPT | PTE_PRESENT_RW);
        for (long g = 0; g < gigabytes; g++) {
            long pd = BootLayout.PD_FIRST + g * 0x1000;
            mem.write64(BootLayout.PDPT + g * 8, pd | PTE_PRESENT_RW);
            for (long j = 0; j < 512; j++) {
                mem.write64(pd + j * 8, ((g * 512 + j) << 21) | PDE_2M);
            }
        }
    }

    /** How many page directories (1 GiB each) the identity map over [0, mapTop) takes. */
    public static int pageDirectories(long mapTop) {
        // ceilDiv, not (mapTop + GiB - 1) / GiB, which wraps negative for a mapTop near Long.MAX_VALUE.
        return (int) Math.min(BootLayout.PD_MAX, Math.max(4, Math.ceilDiv(mapTop, GiB)));
    }

    /** Direct 64-bit entry at {@code entry} with paging over [0, mapTop). */
    public static void enterLongMode(KvmVcpu vcpu, GuestMemory mem, long mapTop, long entry, long startInfo) {
        writeGdt(mem);
        longMode(vcpu, mem, mapTop, SEL_CODE64, SEL_DATA,
                new KvmRegs().set(Reg.RIP, entry).set(Reg.RFLAGS, 2).set(Reg.RDI, startInfo).set(Reg.RBX, startInfo));
    }

    /**
     * Linux's 64-bit boot protocol entry: long mode with paging on and everything up to
     * {@code mapTop} (which covers the kernel, its init_size, the zero page and the command line)
     * identity mapped, CS = __BOOT_CS and DS/ES/SS = __BOOT_DS from a loaded GDT, interrupts off,
     * RSI = the boot_params and RIP = {@code entry} (the load address + 0x200).
     */
    public static void enterLinux64(KvmVcpu vcpu, GuestMemory mem, long mapTop, long entry, long bootParams) {
        writeLinuxGdt(mem);
        // RFLAGS = 2: only the always-one bit, so IF = 0.
        longMode(vcpu, mem, mapTop, LINUX_BOOT_CS, LINUX_BOOT_DS,
                new KvmRegs().set(Reg.RIP, entry).set(Reg.RFLAGS, 2).set(Reg.RSI, bootParams));
    }

    private static void longMode(KvmVcpu vcpu, GuestMemory mem, long mapTop, int codeSelector, int dataSelector, KvmRegs regs) {
        writeIdentityMap(mem, mapTop);
        KvmSregs s = vcpu.getSregs();
        flatSegments(s, SegmentDescriptor.code64(codeSelector), dataSelector);
        s.setCr3(BootLayout.PML4);
        s.setCr4(CR4_PAE);
        s.setCr0(CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG);
        s.setEfer(EFER_LME | EFER_LMA);
        vcpu.setSregs(s);
        vcpu.setRegs(regs);
        vcpu.setFpuDefaults();
    }

    /** Xen PVH entry: 32-bit protected mode without paging, EBX = start_info. */
    public static void enterPvh32(KvmVcpu vcpu, GuestMemory mem, long entry, long startInfo) {
        writeGdt(mem);
        KvmSregs s = vcpu.getSregs();
        flatSegments(s, SegmentDescriptor.code32(SEL_CODE32), SEL_DATA);
        s.setCr0(CR0_PE | CR0_ET);
        s.setCr3(0);
        s.setCr4(0);
        s.setEfer(0);
        vcpu.setSregs(s);
        vcpu.setRegs(new KvmRegs().set(Reg.RIP, entry).set(Reg.RFLAGS, 2).set(Reg.RBX, startInfo));
        vcpu.setFpuDefaults();
    }

    /** Flat segments from jkvm's boot GDT, a busy TSS, and an empty IDT. */
    private static void flatSegments(KvmSregs s, SegmentDescriptor code, int dataSelector) {
        s.set(Seg.CS, code);
        SegmentDescriptor data = SegmentDescriptor.data(dataSelector);
        for (Seg seg : new Seg[] {Seg.DS, Seg.ES, Seg.FS, Seg.GS, Seg.SS}) {
            s.set(seg, data);
        }
        s.set(Seg.TR, SegmentDescriptor.tss(SEL_TSS, 0, 0x67));
        s.setGdt(BootLayout.GDT, GDT_LIMIT);
        // An empty IDT turns any exception into a triple fault, which jkvm reports, rather than a jump to 0.
        s.setIdt(0, 0);
    }
}
