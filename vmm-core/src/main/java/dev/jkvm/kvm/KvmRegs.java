package dev.jkvm.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** struct kvm_regs: the general registers, rip and rflags, read and written as a block. */
public final class KvmRegs {
    /** In struct order, so that ordinal() * 8 is the field offset. */
    public enum Reg { RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP, R8, R9, R10, R11, R12, R13, R14, R15, RIP, RFLAGS }

    final MemorySegment segment;

    public KvmRegs() {
        this.segment = Arena.ofAuto().allocate(KvmStructs.REGS);
    }

    public long get(Reg r) {
        return segment.get(ValueLayout.JAVA_LONG, r.ordinal() * 8L);
    }

    public KvmRegs set(Reg r, long value) {
        segment.set(ValueLayout.JAVA_LONG, r.ordinal() * 8L, value);
        return this;
    }
}
