package dev.jkvm.devices.legacy.ide;

import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.GuestRegion;
import dev.jkvm.vmm.device.InterruptLine;
import dev.jkvm.vmm.pci.PciConfiguration;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

/**
 * A PIIX3 IDE controller over test guest memory (RAM at [0, 2 MiB) and [3 MiB, 4 MiB), a hole
 * between), driven through its ports the way a polling driver does.
 */
final class IdeHarness {
    static final long LOW_RAM = 2 << 20;
    static final long HIGH_RAM_START = 3 << 20;
    static final long HIGH_RAM = 1 << 20;
    static final int SECTOR = 512;

    /** An interrupt line that remembers its levels. */
    static final class Line implements InterruptLine {
        final List<Boolean> levels = new ArrayList<>();

        @Override
        public synchronized void set(boolean level) {
            levels.add(level);
        }

        synchronized boolean high() {
            return !levels.isEmpty() && levels.get(levels.size() - 1);
        }

        synchronized int edges() {
            int n = 0;
            boolean last = false;
            for (boolean l : levels) {
                if (l && !last) {
                    n++;
                }
                last = l;
            }
            return n;
        }
    }

    final GuestMemory memory;
    final Line[] irq = {new Line(), new Line()};
    final PiixIde ide;

    IdeHarness() {
        Arena arena = Arena.ofAuto();
        memory = new GuestMemory(List.of(new GuestRegion(0, arena.allocate(LOW_RAM, 4096)),
                new GuestRegion(HIGH_RAM_START, arena.allocate(HIGH_RAM, 4096))));
        ide = new PiixIde(memory, irq[0], irq[1]);
    }

    MemoryImage disk(int ch, int unit, long sectors) {
        MemoryImage image = new MemoryImage(sectors * SECTOR, false);
        ide.attachDisk(ch, unit, image, true, null);
        return image;
    }

    MemoryImage cdrom(int ch, int unit, long blocks) {
        MemoryImage image = new MemoryImage(blocks * 2048, true);
        ide.attachCdrom(ch, unit, image, null);
        return image;
    }

    void enableBusMaster() {
        ide.writeConfig(PciConfiguration.COMMAND, 2, PciConfiguration.COMMAND_IO | PciConfiguration.COMMAND_BUS_MASTER);
    }

    // ---- ports ----

    int in(int ch, int reg) {
        return (int) ide.commandBlock(ch).read(reg, 1);
    }

    void out(int ch, int reg, int v) {
        ide.commandBlock(ch).write(reg, 1, v);
    }

    int status(int ch) {
        return in(ch, Ata.REG_STATUS_COMMAND);
    }

    int alt(int ch) {
        return (int) ide.controlBlock(ch).read(0, 1);
    }

    void control(int ch, int v) {
        ide.controlBlock(ch).write(0, 1, v);
    }

    int inw(int ch) {
        return (int) ide.commandBlock(ch).read(0, 2);
    }

    void outw(int ch, int v) {
        ide.commandBlock(ch).write(0, 2, v);
    }

    int bm(int ch, int reg) {
        return (int) ide.busMaster().read(ch * BusMaster.CHANNEL_STRIDE + reg, 1);
    }

    void bm(int ch, int reg, int v) {
        ide.busMaster().write(ch * BusMaster.CHANNEL_STRIDE + reg, 1, v);
    }

    void prdTable(int ch, long address) {
        ide.busMaster().write(ch * BusMaster.CHANNEL_STRIDE + BusMaster.REG_PRD_TABLE, 4, address);
    }

    /** Writes a PRD entry {address, count (0 = 64 KiB), eot} at table + 8 * i. */
    void prd(long table, int i, long address, int count, boolean eot) {
        memory.write32(table + 8L * i, (int) address);
        memory.write32(table + 8L * i + 4, (count & 0xffff) | (eot ? PrdTable.EOT : 0));
    }

    // ---- commands ----

    void select(int ch, int unit) {
        out(ch, Ata.REG_DEVICE, Ata.DEVICE_OBSOLETE | (unit << 4));
    }

    void lba28(int ch, int unit, long lba, int count) {
        out(ch, Ata.REG_COUNT, count);
        out(ch, Ata.REG_LBA_LOW, (int) lba);
        out(ch, Ata.REG_LBA_MID, (int) (lba >>> 8));
        out(ch, Ata.REG_LBA_HIGH, (int) (lba >>> 16));
        out(ch, Ata.REG_DEVICE, Ata.DEVICE_OBSOLETE | Ata.DEVICE_LBA | (unit << 4) | (int) ((lba >>> 24) & 0xf));
    }

    void lba48(int ch, int unit, long lba, int count) {
        out(ch, Ata.REG_COUNT, count >>> 8);
        out(ch, Ata.REG_LBA_LOW, (int) (lba >>> 24));
        out(ch, Ata.REG_LBA_MID, (int) (lba >>> 32));
        out(ch, Ata.REG_LBA_HIGH, (int) (lba >>> 40));
        out(ch, Ata.REG_COUNT, count);
        out(ch, Ata.REG_LBA_LOW, (int) lba);
        out(ch, Ata.REG_LBA_MID, (int) (lba >>> 8));
        out(ch, Ata.REG_LBA_HIGH, (int) (lba >>> 16));
        out(ch, Ata.REG_DEVICE, Ata.DEVICE_OBSOLETE | Ata.DEVICE_LBA | (unit << 4));
    }

    void command(int ch, int command) {
        out(ch, Ata.REG_STATUS_COMMAND, command);
    }

    /** Reads n bytes of a DRQ block through the 16-bit data port. */
    byte[] pioIn(int ch, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i += 2) {
            int w = inw(ch);
            b[i] = (byte) w;
            if (i + 1 < n) {
                b[i + 1] = (byte) (w >>> 8);
            }
        }
        return b;
    }

    void pioOut(int ch, byte[] b) {
        for (int i = 0; i < b.length; i += 2) {
            outw(ch, (b[i] & 0xff) | ((i + 1 < b.length ? b[i + 1] & 0xff : 0) << 8));
        }
    }

    int[] words(byte[] b) {
        int[] w = new int[b.length / 2];
        for (int i = 0; i < w.length; i++) {
            w[i] = (b[2 * i] & 0xff) | ((b[2 * i + 1] & 0xff) << 8);
        }
        return w;
    }

    /** IDENTIFY (PACKET) DEVICE; the 256 words, or null if the device did not offer data. */
    int[] identify(int ch, int unit, int command) {
        select(ch, unit);
        command(ch, command);
        if ((alt(ch) & Ata.DRQ) == 0) {
            return null;
        }
        return words(pioIn(ch, 512));
    }

    static String string(int[] w, int first, int count) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < count; i++) {
            sb.append((char) (w[first + i] >>> 8)).append((char) (w[first + i] & 0xff));
        }
        return sb.toString().stripTrailing();
    }

    static boolean isPattern(byte[] b, long offset) {
        for (int i = 0; i < b.length; i++) {
            if (b[i] != MemoryImage.pattern(offset + i)) {
                return false;
            }
        }
        return true;
    }
}
