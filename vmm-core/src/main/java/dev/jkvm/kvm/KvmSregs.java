package dev.jkvm.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** struct kvm_sregs: segment registers, descriptor tables, control registers and EFER. */
public final class KvmSregs {
    public enum Seg { CS, DS, ES, FS, GS, SS, TR, LDT }

    private static final long SEGMENT_SIZE = KvmStructs.SEGMENT.byteSize();
    private static final long GDT = KvmStructs.SREGS.byteOffset(PathElement.groupElement("gdt"));
    private static final long IDT = KvmStructs.SREGS.byteOffset(PathElement.groupElement("idt"));
    private static final long CR0 = KvmStructs.SREGS.byteOffset(PathElement.groupElement("cr0"));
    private static final long CR2 = KvmStructs.SREGS.byteOffset(PathElement.groupElement("cr2"));
    private static final long CR3 = KvmStructs.SREGS.byteOffset(PathElement.groupElement("cr3"));
    private static final long CR4 = KvmStructs.SREGS.byteOffset(PathElement.groupElement("cr4"));
    private static final long CR8 = KvmStructs.SREGS.byteOffset(PathElement.groupElement("cr8"));
    private static final long EFER = KvmStructs.SREGS.byteOffset(PathElement.groupElement("efer"));
    private static final long APIC_BASE = KvmStructs.SREGS.byteOffset(PathElement.groupElement("apic_base"));

    final MemorySegment segment;

    public KvmSregs() {
        this.segment = Arena.ofAuto().allocate(KvmStructs.SREGS);
    }

    public SegmentDescriptor get(Seg which) {
        MemorySegment s = segment.asSlice(which.ordinal() * SEGMENT_SIZE, SEGMENT_SIZE);
        return new SegmentDescriptor(
                s.get(ValueLayout.JAVA_LONG, 0),
                s.get(ValueLayout.JAVA_INT, 8),
                Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT, 12)),
                s.get(ValueLayout.JAVA_BYTE, 14),
                s.get(ValueLayout.JAVA_BYTE, 15) != 0,
                s.get(ValueLayout.JAVA_BYTE, 16),
                s.get(ValueLayout.JAVA_BYTE, 17) != 0,
                s.get(ValueLayout.JAVA_BYTE, 18) != 0,
                s.get(ValueLayout.JAVA_BYTE, 19) != 0,
                s.get(ValueLayout.JAVA_BYTE, 20) != 0,
                s.get(ValueLayout.JAVA_BYTE, 21) != 0,
                s.get(ValueLayout.JAVA_BYTE, 22) != 0);
    }

    public KvmSregs set(Seg which, SegmentDescriptor d) {
        MemorySegment s = segment.asSlice(which.ordinal() * SEGMENT_SIZE, SEGMENT_SIZE);
        s.set(ValueLayout.JAVA_LONG, 0, d.base());
        s.set(ValueLayout.JAVA_INT, 8, d.limit());
        s.set(ValueLayout.JAVA_SHORT, 12, (short) d.selector());
        s.set(ValueLayout.JAVA_BYTE, 14, (byte) d.type());
        s.set(ValueLayout.JAVA_BYTE, 15, flag(d.present()));
        s.set(ValueLayout.JAVA_BYTE, 16, (byte) d.dpl());
        s.set(ValueLayout.JAVA_BYTE, 17, flag(d.db()));
        s.set(ValueLayout.JAVA_BYTE, 18, flag(d.s()));
        s.set(ValueLayout.JAVA_BYTE, 19, flag(d.l()));
        s.set(ValueLayout.JAVA_BYTE, 20, flag(d.g()));
        s.set(ValueLayout.JAVA_BYTE, 21, flag(d.avl()));
        s.set(ValueLayout.JAVA_BYTE, 22, flag(d.unusable()));
        return this;
    }

    private static byte flag(boolean b) {
        return (byte) (b ? 1 : 0);
    }

    public long gdtBase() {
        return segment.get(ValueLayout.JAVA_LONG, GDT);
    }

    public int gdtLimit() {
        return Short.toUnsignedInt(segment.get(ValueLayout.JAVA_SHORT, GDT + 8));
    }

    public KvmSregs setGdt(long base, int limit) {
        segment.set(ValueLayout.JAVA_LONG, GDT, base);
        segment.set(ValueLayout.JAVA_SHORT, GDT + 8, (short) limit);
        return this;
    }

    public long idtBase() {
        return segment.get(ValueLayout.JAVA_LONG, IDT);
    }

    public int idtLimit() {
        return Short.toUnsignedInt(segment.get(ValueLayout.JAVA_SHORT, IDT + 8));
    }

    public KvmSregs setIdt(long base, int limit) {
        segment.set(ValueLayout.JAVA_LONG, IDT, base);
        segment.set(ValueLayout.JAVA_SHORT, IDT + 8, (short) limit);
        return this;
    }

    public long cr0() {
        return segment.get(ValueLayout.JAVA_LONG, CR0);
    }

    public long cr2() {
        return segment.get(ValueLayout.JAVA_LONG, CR2);
    }

    public long cr3() {
        return segment.get(ValueLayout.JAVA_LONG, CR3);
    }

    public long cr4() {
        return segment.get(ValueLayout.JAVA_LONG, CR4);
    }

    public long cr8() {
        return segment.get(ValueLayout.JAVA_LONG, CR8);
    }

    public long efer() {
        return segment.get(ValueLayout.JAVA_LONG, EFER);
    }

    public long apicBase() {
        return segment.get(ValueLayout.JAVA_LONG, APIC_BASE);
    }

    public KvmSregs setCr0(long v) {
        segment.set(ValueLayout.JAVA_LONG, CR0, v);
        return this;
    }

    public KvmSregs setCr3(long v) {
        segment.set(ValueLayout.JAVA_LONG, CR3, v);
        return this;
    }

    public KvmSregs setCr4(long v) {
        segment.set(ValueLayout.JAVA_LONG, CR4, v);
        return this;
    }

    public KvmSregs setEfer(long v) {
        segment.set(ValueLayout.JAVA_LONG, EFER, v);
        return this;
    }
}
