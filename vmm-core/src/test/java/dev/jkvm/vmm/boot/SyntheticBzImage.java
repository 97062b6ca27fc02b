package dev.jkvm.vmm.boot;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Builds a small bzImage: a boot sector and setup sectors with a setup header laid out from the
 * table in Documentation/x86/boot.rst (offsets written out here, not taken from the code under
 * test), then a fake protected-mode kernel of recognisable bytes. Defaults look like Debian's
 * 6.1 kernel header, scaled down.
 */
final class SyntheticBzImage {
    int version = 0x020f;
    int rawSetupSects = 3;
    /** The byte at 0x201 (the jump's offset): the header ends at 0x202 + this. Debian's is 0x6a. */
    int jumpOffset = 0x6a;
    int loadflags = 0x01;
    int xloadflags = 0x7f;
    long initrdAddrMax = 0x7fffffffL;
    long kernelAlignment = 0x200000;
    boolean relocatable = true;
    int minAlignment = 21;
    long cmdlineSize = 2047;
    long prefAddress = 0x1000000;
    long initSize = 0x400000;
    int kernelBytes = 0x3000;
    /** Negative: the kernel size / 16, as the build writes it. */
    long syssize = -1;
    int bootFlag = 0xaa55;
    int magic = 0x53726448;

    SyntheticBzImage version(int v) {
        version = v;
        return this;
    }

    int setupSects() {
        return rawSetupSects == 0 ? 4 : rawSetupSects;
    }

    int kernelOffset() {
        return (setupSects() + 1) * 512;
    }

    /** The fake kernel's byte at offset i. */
    static byte kernelByte(int i) {
        return (byte) (i * 7 + 3);
    }

    byte[] build() {
        byte[] b = new byte[kernelOffset() + kernelBytes];
        ByteBuffer h = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        // Setup code and boot sector: filler the loader has no business copying.
        for (int i = 0; i < kernelOffset(); i++) {
            b[i] = (byte) 0xcc;
        }
        h.put(0x1f1, (byte) rawSetupSects);
        h.putShort(0x1f2, (short) 0x0001);                 // root_flags
        h.putInt(0x1f4, (int) (syssize >= 0 ? syssize : (kernelBytes + 15) / 16));
        h.putShort(0x1f8, (short) 0x1234);                 // ram_size
        h.putShort(0x1fa, (short) 0xffff);                 // vid_mode "normal"
        h.putShort(0x1fc, (short) 0x0801);                 // root_dev
        h.putShort(0x1fe, (short) bootFlag);
        b[0x200] = (byte) 0xeb;                             // jmp short
        b[0x201] = (byte) jumpOffset;
        h.putInt(0x202, magic);
        h.putShort(0x206, (short) version);
        h.putInt(0x208, 0);                                 // realmode_swtch
        h.putShort(0x20c, (short) 0x1000);                 // start_sys_seg
        h.putShort(0x20e, (short) 0x0340);                 // kernel_version
        h.put(0x210, (byte) 0);                             // type_of_loader
        h.put(0x211, (byte) loadflags);
        h.putShort(0x212, (short) 0x8000);                 // setup_move_size
        h.putInt(0x214, 0x100000);                          // code32_start
        h.putInt(0x218, 0);                                 // ramdisk_image
        h.putInt(0x21c, 0);                                 // ramdisk_size
        h.putInt(0x220, 0);                                 // bootsect_kludge
        h.putShort(0x224, (short) 0);                      // heap_end_ptr
        h.putInt(0x228, 0);                                 // cmd_line_ptr
        h.putInt(0x22c, (int) initrdAddrMax);
        h.putInt(0x230, (int) kernelAlignment);
        h.put(0x234, (byte) (relocatable ? 1 : 0));
        h.put(0x235, (byte) minAlignment);
        h.putShort(0x236, (short) xloadflags);
        h.putInt(0x238, (int) cmdlineSize);
        h.putInt(0x23c, 0);                                 // hardware_subarch
        h.putLong(0x240, 0);                                // hardware_subarch_data
        h.putInt(0x248, 0x3a1);                             // payload_offset
        h.putInt(0x24c, 0x1000);                            // payload_length
        h.putLong(0x250, 0);                                // setup_data
        h.putLong(0x258, prefAddress);
        h.putInt(0x260, (int) initSize);
        h.putInt(0x264, 0x190);                             // handover_offset
        h.putInt(0x268, 0x2000);                            // kernel_info_offset
        // Whatever follows the header in the setup code (0x202 + jump offset and beyond) stays filler.
        int end = 0x202 + (jumpOffset & 0xff);
        for (int i = end; i < 0x290 && i < kernelOffset(); i++) {
            b[i] = (byte) 0xcc;
        }
        for (int i = 0; i < kernelBytes; i++) {
            b[kernelOffset() + i] = kernelByte(i);
        }
        return b;
    }

    MemorySegment segment() {
        return MemorySegment.ofArray(build());
    }

    BzImage parse(String name) {
        return BzImage.parse(segment(), name);
    }
}
