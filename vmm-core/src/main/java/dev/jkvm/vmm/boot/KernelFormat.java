package dev.jkvm.vmm.boot;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** The kernel image formats jkvm knows, told apart by their magic numbers. */
public enum KernelFormat {
    /** An ELF64 executable (vmlinux, or jkvm's test guest), booted through its PVH note or 64-bit entry. */
    ELF,
    /** A Linux bzImage: a real-mode setup header ("HdrS") followed by the protected-mode kernel. */
    BZIMAGE;

    private static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public static KernelFormat detect(MemorySegment image, String name) {
        if (image.byteSize() >= 4 && image.get(LE_INT, 0) == 0x464c457f) {
            return ELF;
        }
        if (image.byteSize() >= 0x208 && image.get(LE_SHORT, 0x1fe) == (short) 0xaa55 && image.get(LE_INT, 0x202) == 0x53726448) {
            return BZIMAGE;
        }
        throw new KernelImageException("kernel " + name + " is neither an ELF executable nor a Linux bzImage");
    }
}
