package dev.jkvm.kvm;

import dev.jkvm.os.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Map;

/**
 * A vCPU file descriptor and its mmap'd struct kvm_run. The run segment has no arena: the exit
 * loop reads it on every exit and must not pay for liveness checks, so its lifetime is managed by
 * hand. It is unmapped in {@link #close()}, which the owner calls only after the vCPU thread ended.
 */
public final class KvmVcpu implements AutoCloseable {
    private final int id;
    private final int fd;
    private final MemorySegment run;
    private final long runSize;
    private boolean closed;

    KvmVcpu(int id, int fd, int mmapSize) {
        this.id = id;
        this.fd = fd;
        this.runSize = mmapSize;
        MemorySegment p = Libc.mmap(MemorySegment.NULL, mmapSize, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, 0);
        this.run = p.reinterpret(mmapSize);
    }

    public int id() {
        return id;
    }

    public int fd() {
        return fd;
    }

    /** struct kvm_run, followed by the PIO data page. */
    public MemorySegment run() {
        return run;
    }

    public KvmRegs getRegs() {
        KvmRegs r = new KvmRegs();
        Libc.ioctl("KVM_GET_REGS", fd, KvmIoctl.KVM_GET_REGS, r.segment);
        return r;
    }

    public void setRegs(KvmRegs r) {
        Libc.ioctl("KVM_SET_REGS", fd, KvmIoctl.KVM_SET_REGS, r.segment);
    }

    public KvmSregs getSregs() {
        KvmSregs s = new KvmSregs();
        Libc.ioctl("KVM_GET_SREGS", fd, KvmIoctl.KVM_GET_SREGS, s.segment);
        return s;
    }

    public void setSregs(KvmSregs s) {
        Libc.ioctl("KVM_SET_SREGS", fd, KvmIoctl.KVM_SET_SREGS, s.segment);
    }

    public void setCpuid(List<CpuidEntry> entries) {
        long entrySize = KvmStructs.CPUID_ENTRY2.byteSize();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(KvmStructs.CPUID2_HEAD.byteSize() + entries.size() * entrySize, 8);
            buf.set(ValueLayout.JAVA_INT, 0, entries.size());
            for (int i = 0; i < entries.size(); i++) {
                CpuidEntry c = entries.get(i);
                MemorySegment e = buf.asSlice(KvmStructs.CPUID2_HEAD.byteSize() + i * entrySize, entrySize);
                e.set(ValueLayout.JAVA_INT, 0, c.function());
                e.set(ValueLayout.JAVA_INT, 4, c.index());
                e.set(ValueLayout.JAVA_INT, 8, c.flags());
                e.set(ValueLayout.JAVA_INT, 12, c.eax());
                e.set(ValueLayout.JAVA_INT, 16, c.ebx());
                e.set(ValueLayout.JAVA_INT, 20, c.ecx());
                e.set(ValueLayout.JAVA_INT, 24, c.edx());
            }
            Libc.ioctl("KVM_SET_CPUID2", fd, KvmIoctl.KVM_SET_CPUID2, buf);
        }
    }

    /**
     * The signal mask in force while this vCPU is inside KVM_RUN. jkvm passes a mask with the kick
     * signal open, so a pending kick makes KVM_RUN return EINTR.
     */
    public void setSignalMask(long kernelSigset) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(KvmStructs.SIGNAL_MASK_HEAD.byteSize() + 8, 8);
            m.set(ValueLayout.JAVA_INT, 0, 8);
            m.set(ValueLayout.JAVA_LONG_UNALIGNED, 4, kernelSigset);
            Libc.ioctl("KVM_SET_SIGNAL_MASK", fd, KvmIoctl.KVM_SET_SIGNAL_MASK, m);
        }
    }

    public int getMpState() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmStructs.MP_STATE);
            Libc.ioctl("KVM_GET_MP_STATE", fd, KvmIoctl.KVM_GET_MP_STATE, s);
            return s.get(ValueLayout.JAVA_INT, 0);
        }
    }

    public void setMpState(int state) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmStructs.MP_STATE);
            s.set(ValueLayout.JAVA_INT, 0, state);
            Libc.ioctl("KVM_SET_MP_STATE", fd, KvmIoctl.KVM_SET_MP_STATE, s);
        }
    }

    /** The 1 KiB local APIC register page, as KVM_GET_LAPIC returns it. */
    public byte[] getLapic() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmStructs.LAPIC_STATE);
            Libc.ioctl("KVM_GET_LAPIC", fd, KvmIoctl.KVM_GET_LAPIC, s);
            return s.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    public void setLapic(byte[] regs) {
        if (regs.length != 1024) {
            throw new IllegalArgumentException("LAPIC state is 1024 bytes");
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmStructs.LAPIC_STATE);
            s.copyFrom(MemorySegment.ofArray(regs));
            Libc.ioctl("KVM_SET_LAPIC", fd, KvmIoctl.KVM_SET_LAPIC, s);
        }
    }

    /** Sets MSRs; KVM stops at the first it rejects, so a short count is an error naming that MSR. */
    public void setMsrs(Map<Integer, Long> msrs) {
        long entrySize = KvmStructs.MSR_ENTRY.byteSize();
        Integer[] indexes = msrs.keySet().toArray(Integer[]::new);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(KvmStructs.MSRS_HEAD.byteSize() + indexes.length * entrySize, 8);
            buf.set(ValueLayout.JAVA_INT, 0, indexes.length);
            for (int i = 0; i < indexes.length; i++) {
                long off = KvmStructs.MSRS_HEAD.byteSize() + i * entrySize;
                buf.set(ValueLayout.JAVA_INT, off, indexes[i]);
                buf.set(ValueLayout.JAVA_LONG, off + 8, msrs.get(indexes[i]));
            }
            int done = Libc.ioctl("KVM_SET_MSRS", fd, KvmIoctl.KVM_SET_MSRS, buf);
            if (done != indexes.length) {
                throw new IllegalStateException(String.format("KVM_SET_MSRS rejected MSR 0x%x", indexes[done]));
            }
        }
    }

    public long getMsr(int index) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(KvmStructs.MSRS_HEAD.byteSize() + KvmStructs.MSR_ENTRY.byteSize(), 8);
            buf.set(ValueLayout.JAVA_INT, 0, 1);
            buf.set(ValueLayout.JAVA_INT, 8, index);
            int done = Libc.ioctl("KVM_GET_MSRS", fd, KvmIoctl.KVM_GET_MSRS, buf);
            if (done != 1) {
                throw new IllegalStateException(String.format("KVM_GET_MSRS cannot read MSR 0x%x", index));
            }
            return buf.get(ValueLayout.JAVA_LONG, 16);
        }
    }

    /** The x87/SSE state a CPU has after reset: FCW 0x37f (all exceptions masked) and MXCSR 0x1f80. */
    public void setFpuDefaults() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = a.allocate(KvmStructs.FPU);
            f.set(ValueLayout.JAVA_SHORT, KvmStructs.FPU.byteOffset(java.lang.foreign.MemoryLayout.PathElement.groupElement("fcw")), (short) 0x37f);
            f.set(ValueLayout.JAVA_INT, KvmStructs.FPU.byteOffset(java.lang.foreign.MemoryLayout.PathElement.groupElement("mxcsr")), 0x1f80);
            Libc.ioctl("KVM_SET_FPU", fd, KvmIoctl.KVM_SET_FPU, f);
        }
    }

    /** Unmaps kvm_run and closes the fd. Only after the thread that ran this vCPU has ended. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        Libc.munmap(run.address(), runSize);
        Libc.closeQuietly(fd);
    }
}
