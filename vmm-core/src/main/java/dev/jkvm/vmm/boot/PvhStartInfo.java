package dev.jkvm.vmm.boot;

import dev.jkvm.memory.GuestMemory;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Writes the Xen PVH hvm_start_info (version 1, with a memory map) that a PVH kernel finds through
 * EBX at its 32-bit entry, and that jkvm's direct 64-bit entry passes in RDI and RBX.
 */
public final class PvhStartInfo {
    public static final int MAGIC = 0x336ec578;
    public static final int SIZE = 56;
    public static final int MEMMAP_ENTRY_SIZE = 24;
    public static final int MODLIST_ENTRY_SIZE = 32;

    /** A boot module (an initrd) already placed in guest memory. */
    public record Module(long address, long size) {
    }

    private PvhStartInfo() {
    }

    /** Writes the command line, memory map, modules and start_info; returns the start_info address. */
    public static long write(GuestMemory mem, String cmdline, List<E820Entry> memmap, List<Module> modules, long rsdp) {
        byte[] cmd = (cmdline == null ? "" : cmdline).getBytes(StandardCharsets.UTF_8);
        if (cmd.length + 1 > BootLayout.CMDLINE_MAX) {
            throw new KernelImageException("kernel command line is " + cmd.length + " bytes; the limit is " + (BootLayout.CMDLINE_MAX - 1));
        }
        mem.write(BootLayout.CMDLINE, cmd, 0, cmd.length);
        mem.write8(BootLayout.CMDLINE + cmd.length, 0);

        long memmapAddr = BootLayout.START_INFO + SIZE;
        long modlistAddr = memmapAddr + (long) memmap.size() * MEMMAP_ENTRY_SIZE;
        if (modlistAddr + (long) modules.size() * MODLIST_ENTRY_SIZE > BootLayout.START_INFO_END) {
            throw new IllegalArgumentException("memory map too large for the start_info page");
        }
        for (int i = 0; i < memmap.size(); i++) {
            E820Entry e = memmap.get(i);
            long p = memmapAddr + (long) i * MEMMAP_ENTRY_SIZE;
            mem.write64(p, e.address());
            mem.write64(p + 8, e.size());
            mem.write32(p + 16, e.type());
            mem.write32(p + 20, 0);
        }
        for (int i = 0; i < modules.size(); i++) {
            long p = modlistAddr + (long) i * MODLIST_ENTRY_SIZE;
            mem.write64(p, modules.get(i).address());
            mem.write64(p + 8, modules.get(i).size());
            mem.write64(p + 16, 0);
            mem.write64(p + 24, 0);
        }
        long s = BootLayout.START_INFO;
        mem.write32(s, MAGIC);
        mem.write32(s + 4, 1);
        mem.write32(s + 8, 0);
        mem.write32(s + 12, modules.size());
        mem.write64(s + 16, modules.isEmpty() ? 0 : modlistAddr);
        mem.write64(s + 24, BootLayout.CMDLINE);
        mem.write64(s + 32, rsdp);
        mem.write64(s + 40, memmapAddr);
        mem.write32(s + 48, memmap.size());
        mem.write32(s + 52, 0);
        return s;
    }
}
