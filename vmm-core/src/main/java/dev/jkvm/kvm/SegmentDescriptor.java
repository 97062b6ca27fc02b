package dev.jkvm.kvm;

/** struct kvm_segment: a segment register as KVM sees it (the hidden part included). */
public record SegmentDescriptor(long base, int limit, int selector, int type, boolean present, int dpl,
                                boolean db, boolean s, boolean l, boolean g, boolean avl, boolean unusable) {

    /** A flat 64-bit code segment (L=1, D=0) with the given selector. */
    public static SegmentDescriptor code64(int selector) {
        return new SegmentDescriptor(0, 0xffffffff, selector, 0xb, true, 0, false, true, true, true, false, false);
    }

    /** A flat 32-bit code segment, execute/read, accessed. */
    public static SegmentDescriptor code32(int selector) {
        return new SegmentDescriptor(0, 0xffffffff, selector, 0xb, true, 0, true, true, false, true, false, false);
    }

    /** A flat read/write data segment, accessed. */
    public static SegmentDescriptor data(int selector) {
        return new SegmentDescriptor(0, 0xffffffff, selector, 0x3, true, 0, true, true, false, true, false, false);
    }

    /** A busy TSS at {@code base}, as VMX requires of TR in protected and long mode. */
    public static SegmentDescriptor tss(int selector, long base, int limit) {
        return new SegmentDescriptor(base, limit, selector, 0xb, true, 0, false, false, false, false, false, false);
    }

    /** The 8-byte GDT descriptor that encodes this segment (for segments whose base fits 32 bits). */
    public long gdtEntry() {
        int lim = g ? limit >>> 12 : limit;
        long access = (type & 0xf) | (s ? 0x10 : 0) | ((long) (dpl & 3) << 5) | (present ? 0x80 : 0);
        long flags = (avl ? 1 : 0) | (l ? 2 : 0) | (db ? 4 : 0) | (g ? 8 : 0);
        return (lim & 0xffffL)
                | ((base & 0xffffffL) << 16)
                | (access << 40)
                | ((long) ((lim >>> 16) & 0xf) << 48)
                | (flags << 52)
                | (((base >>> 24) & 0xffL) << 56);
    }
}
