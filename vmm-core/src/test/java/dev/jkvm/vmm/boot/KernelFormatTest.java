package dev.jkvm.vmm.boot;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class KernelFormatTest {
    private static final String NAME = "/boot/vmlinuz-test";

    private static KernelFormat detect(byte[] b) {
        return KernelFormat.detect(MemorySegment.ofArray(b), NAME);
    }

    /** A bzImage's first sector and setup header, per Documentation/arch/x86/boot.rst. */
    private static byte[] bzImage(int size) {
        byte[] b = new byte[size];
        b[0x1fe] = 0x55;          // boot_flag 0xAA55, little-endian
        b[0x1ff] = (byte) 0xaa;
        b[0x202] = 'H';           // header "HdrS"
        b[0x203] = 'd';
        b[0x204] = 'r';
        b[0x205] = 'S';
        b[0x206] = 0x0f;          // version 2.15
        b[0x207] = 0x02;
        return b;
    }

    private static void assertNeither(byte[] b) {
        try {
            KernelFormat f = detect(b);
            fail("detected " + f + " in " + b.length + " bytes");
        } catch (KernelImageException e) {
            assertTrue(e.getMessage().contains(NAME), e.getMessage());
        } catch (Throwable t) {
            throw new AssertionError("expected KernelImageException, got " + t, t);
        }
    }

    @Test
    void elf() {
        assertEquals(KernelFormat.ELF, detect(new ElfBuilder().load(0x100000, new byte[16], 16).build()));
    }

    @Test
    void elfMagicAloneIsEnoughToBeTreatedAsElf() {
        // The ELF parser then judges the rest; detection only looks at the magic.
        assertEquals(KernelFormat.ELF, detect(new byte[] {0x7f, 'E', 'L', 'F'}));
    }

    @Test
    void bzImage() {
        assertEquals(KernelFormat.BZIMAGE, detect(bzImage(0x4000)));
        assertEquals(KernelFormat.BZIMAGE, detect(bzImage(0x208)));
    }

    @Test
    void bootFlagWithoutHdrSIsNeither() {
        byte[] b = bzImage(0x1000);
        b[0x205] = 's';
        assertNeither(b);
    }

    @Test
    void hdrSWithoutBootFlagIsNeither() {
        byte[] b = bzImage(0x1000);
        b[0x1fe] = (byte) 0xaa;   // byte-swapped boot flag
        b[0x1ff] = 0x55;
        assertNeither(b);
    }

    @Test
    void neither() {
        assertNeither("#!/bin/sh\necho this is not a kernel\n".getBytes(StandardCharsets.US_ASCII));
        assertNeither(new byte[0x10000]);
        byte[] almostElf = {0x7f, 'E', 'L', 'f', 2, 1, 1, 0};
        assertNeither(almostElf);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3})
    void truncatedElfMagic(int len) {
        assertNeither(Arrays.copyOf(new byte[] {0x7f, 'E', 'L', 'F'}, len));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 0x100, 0x1ff, 0x200, 0x202, 0x204, 0x205})
    void truncatedBzImage(int len) {
        assertNeither(Arrays.copyOf(bzImage(0x1000), len));
    }
}
