package dev.jkvm.machine.linux;

import dev.jkvm.kvm.KvmRegs.Reg;
import dev.jkvm.machine.BootEntry;
import dev.jkvm.machine.MachineConfig;
import dev.jkvm.machine.MachineException;
import dev.jkvm.machine.PcMachine;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * -kernel with a bzImage through the whole machine path, with small synthetic images: what loads,
 * and the one-line errors for what cannot. Nothing runs (no start()), so this works on PVM hosts.
 */
class BzImageLoaderIT {
    private static final long MiB = 1L << 20;

    @TempDir
    Path tmp;

    /** A minimal bzImage: boot.rst's header fields, 2 setup sectors, and a 16 KiB fake kernel. */
    static final class Image {
        int version = 0x020f;
        int xloadflags = 0x03;
        long cmdlineSize = 2047;
        long initrdAddrMax = 0x7fffffffL;
        long prefAddress = 0x1000000;
        long initSize = 0x800000;
        int kernelBytes = 0x4000;

        byte[] build() {
            int setupSects = 2;
            int off = (setupSects + 1) * 512;
            byte[] b = new byte[off + kernelBytes];
            ByteBuffer h = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
            h.put(0x1f1, (byte) setupSects);
            h.putInt(0x1f4, kernelBytes / 16);
            h.putShort(0x1fa, (short) 0xffff);
            h.putShort(0x1fe, (short) 0xaa55);
            b[0x200] = (byte) 0xeb;
            b[0x201] = 0x6a;
            h.putInt(0x202, 0x53726448);
            h.putShort(0x206, (short) version);
            h.put(0x211, (byte) 0x01);
            h.putInt(0x214, 0x100000);
            h.putInt(0x22c, (int) initrdAddrMax);
            h.putInt(0x230, 0x200000);
            h.put(0x234, (byte) 1);
            h.putShort(0x236, (short) xloadflags);
            h.putInt(0x238, (int) cmdlineSize);
            h.putLong(0x258, prefAddress);
            h.putInt(0x260, (int) initSize);
            for (int i = 0; i < kernelBytes; i++) {
                b[off + i] = (byte) (i ^ 0x5a);
            }
            return b;
        }
    }

    private Path write(String name, byte[] bytes) throws Exception {
        Path p = tmp.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private Path kernel(Consumer<Image> tweak) throws Exception {
        Image i = new Image();
        tweak.accept(i);
        return write("bzImage", i.build());
    }

    private static MachineConfig.Builder config(Path kernel) {
        return MachineConfig.builder().memoryBytes(64 * MiB).kernel(kernel);
    }

    private static String assertOneLineError(MachineConfig config, String... fragments) {
        MachineException e = assertThrows(MachineException.class, () -> PcMachine.create(config).close());
        String m = e.getMessage();
        assertFalse(m.contains("\n"), "not one line: " + m);
        for (String f : fragments) {
            assertTrue(m.contains(f), "message lacks '" + f + "': " + m);
        }
        return m;
    }

    @Test
    void aSyntheticBzImageLoadsAndTheBspSitsAtTheEntry() throws Exception {
        Path k = kernel(i -> { });
        Path initrd = write("initrd", new byte[3 * 4096 + 5]);
        try (PcMachine m = PcMachine.create(config(k).initrd(initrd).append("root=/dev/vda").build())) {
            assertEquals("BZIMAGE kernel, LONG entry at 0x100200", m.bootDescription());
            assertEquals(0x100200, m.vm().vcpus().get(0).getRegs().get(Reg.RIP));
            assertEquals(0x7000, m.vm().vcpus().get(0).getRegs().get(Reg.RSI));
            assertEquals(0x5a, m.memory().read8(0x100000));
            // 64 MiB: the initrd's last page ends at the top of RAM.
            assertEquals(64 * MiB - 4 * 4096, Integer.toUnsignedLong(m.memory().read32(0x7000 + 0x218)));
            assertEquals(3 * 4096 + 5, m.memory().read32(0x7000 + 0x21c));
        }
    }

    @Test
    void entryLongIsTheLinux64BitEntryAndEntryPvhIsRefused() throws Exception {
        Path k = kernel(i -> { });
        try (PcMachine m = PcMachine.create(config(k).entry(BootEntry.LONG).build())) {
            assertEquals(0x100200, m.vm().vcpus().get(0).getRegs().get(Reg.RIP));
        }
        assertOneLineError(config(k).entry(BootEntry.PVH).build(), k.toString(), "bzImage", "entry=pvh");
    }

    @Test
    void aFileThatIsNeitherBzImageNorElf() throws Exception {
        Path k = write("notakernel", "this is a text file, not a kernel\n".repeat(100).getBytes());
        assertOneLineError(config(k).build(), k.toString(), "neither an ELF executable nor a Linux bzImage");
        // A boot sector with the 0xAA55 flag but no "HdrS": a pre-2.00 zImage or a plain MBR.
        byte[] mbr = new byte[4096];
        mbr[0x1fe] = 0x55;
        mbr[0x1ff] = (byte) 0xaa;
        Path m = write("mbr", mbr);
        assertOneLineError(config(m).build(), m.toString(), "neither");
    }

    @Test
    void aProtocolOlderThan206() throws Exception {
        Path k = kernel(i -> i.version = 0x0205);
        assertOneLineError(config(k).build(), k.toString(), "protocol 2.05", "2.06");
    }

    @Test
    void aKernelWithoutThe64BitEntry() throws Exception {
        Path k = kernel(i -> i.xloadflags = 0);
        assertOneLineError(config(k).build(), k.toString(), "not a 64-bit-capable kernel");
        Path old = kernel(i -> i.version = 0x020a);
        assertOneLineError(config(old).build(), old.toString(), "not a 64-bit-capable kernel", "2.10");
    }

    @Test
    void anInitrdThatDoesNotFit() throws Exception {
        Path k = kernel(i -> { });
        // 64 MiB of RAM, the kernel's init_size area ends at 24 MiB: 40 MiB fit, 40 MiB + 1 page do not.
        Path fits = write("fits", new byte[(int) (40 * MiB)]);
        PcMachine.create(config(k).initrd(fits).build()).close();
        Path big = write("big", new byte[(int) (40 * MiB + 4096)]);
        assertOneLineError(config(k).initrd(big).build(), big.toString(), "does not fit", "-m");
        // initrd_addr_max below the top of RAM binds first.
        Path lowMax = kernel(i -> i.initrdAddrMax = 0x1ffffff);
        Path nine = write("nine", new byte[(int) (9 * MiB)]);
        assertOneLineError(config(lowMax).initrd(nine).build(), nine.toString(), "does not fit", "0x1ffffff");
    }

    @Test
    void aCommandLineLongerThanCmdlineSize() throws Exception {
        Path k = kernel(i -> i.cmdlineSize = 100);
        PcMachine.create(config(k).append("a".repeat(100)).build()).close();
        assertOneLineError(config(k).append("a".repeat(101)).build(), k.toString(), "101 bytes", "at most 100");
    }

    @Test
    void aGuestTooSmallForTheKernelsInitSize() throws Exception {
        Path k = kernel(i -> i.initSize = 0x4000000); // runs at 16 MiB, needs 64 MiB more
        assertOneLineError(config(k).build(), k.toString(), "needs guest RAM up to 0x5000000", "-m");
    }

    @Test
    void aMissingInitrdFile() throws Exception {
        Path k = kernel(i -> { });
        assertOneLineError(config(k).initrd(tmp.resolve("nope")).build(), "nope", "No such file");
    }
}
