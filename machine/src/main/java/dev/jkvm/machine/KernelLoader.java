package dev.jkvm.machine;

import dev.jkvm.kvm.KvmVcpu;
import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.PcMemoryLayout;
import dev.jkvm.vmm.boot.BootLayout;
import dev.jkvm.vmm.boot.BootParams;
import dev.jkvm.vmm.boot.BzImage;
import dev.jkvm.vmm.boot.E820Entry;
import dev.jkvm.vmm.boot.ElfImage;
import dev.jkvm.vmm.boot.KernelFormat;
import dev.jkvm.vmm.boot.KernelImageException;
import dev.jkvm.vmm.boot.PvhStartInfo;
import dev.jkvm.vmm.boot.X86BootCpu;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/** Loads -kernel (and -initrd) into guest memory and puts the boot vCPU at the kernel's entry. */
final class KernelLoader {
    private static final long PAGE = 4096;

    /**
     * How the kernel was entered, for messages and tests. {@code bootInfo} is the address the
     * kernel gets in a register: the PVH start_info for an ELF, the boot_params (zero page) for a bzImage.
     */
    record Loaded(KernelFormat format, BootEntry entry, long entryAddress, long bootInfo) {
    }

    private KernelLoader() {
    }

    /** @param rsdp the ACPI RSDP's guest address for the kernel to find, or 0 when there are no ACPI tables */
    static Loaded load(MachineConfig config, PcMemoryLayout layout, GuestMemory memory, KvmVcpu bsp, long rsdp) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment kernel = map(config.kernel(), "kernel", arena);
            KernelFormat format = KernelFormat.detect(kernel, config.kernel().toString());
            if (format == KernelFormat.BZIMAGE) {
                return loadBzImage(config, layout, memory, bsp, rsdp, kernel, arena);
            }
            ElfImage elf = ElfImage.parse(kernel, config.kernel().toString());
            long imageTop = elf.load(memory);

            List<PvhStartInfo.Module> modules = List.of();
            if (config.initrd() != null) {
                MemorySegment initrd = map(config.initrd(), "initrd", arena);
                long at = placeInitrd(layout, imageTop, initrd.byteSize(), config.initrd());
                memory.write(at, initrd);
                modules = List.of(new PvhStartInfo.Module(at, initrd.byteSize()));
            }

            BootEntry entry = chooseEntry(config, elf);
            int pageDirectories = entry == BootEntry.LONG ? X86BootCpu.pageDirectories(layout.topOfRam()) : 0;
            List<E820Entry> memmap = E820Entry.forLayout(layout, BootLayout.bootDataEnd(pageDirectories));
            long startInfo = PvhStartInfo.write(memory, config.append(), memmap, modules, rsdp);
            long address;
            if (entry == BootEntry.LONG) {
                address = elf.jkvmEntry64().getAsLong();
                X86BootCpu.enterLongMode(bsp, memory, layout.topOfRam(), address, startInfo);
            } else {
                address = elf.pvhEntry().getAsLong();
                X86BootCpu.enterPvh32(bsp, memory, address, startInfo);
            }
            return new Loaded(format, entry, address, startInfo);
        } catch (KernelImageException e) {
            throw new MachineException(e.getMessage());
        }
    }

    /**
     * Linux's 64-bit boot protocol: the protected-mode kernel at 1 MiB, the initrd as high as it
     * may go, the command line at {@link BootLayout#CMDLINE}, the zero page at
     * {@link BootLayout#ZERO_PAGE}, and the BSP in long mode at load address + 0x200 with RSI
     * pointing at the zero page.
     */
    private static Loaded loadBzImage(MachineConfig config, PcMemoryLayout layout, GuestMemory memory, KvmVcpu bsp, long rsdp,
                                      MemorySegment kernel, Arena arena) {
        String name = config.kernel().toString();
        if (config.entry() == BootEntry.PVH) {
            throw new MachineException("kernel " + name + " is a bzImage, which has no PVH entry; entry=pvh needs an ELF with a PVH note");
        }
        BzImage image = BzImage.parse(kernel, name);
        long loadAddress = BzImage.LOAD_ADDRESS;
        long lowRamEnd = layout.lowRamSize();
        image.load(memory, loadAddress, lowRamEnd);

        BootParams.Ramdisk ramdisk = null;
        if (config.initrd() != null) {
            MemorySegment initrd = map(config.initrd(), "initrd", arena);
            long at = image.placeInitrd(loadAddress, lowRamEnd, initrd.byteSize(), config.initrd().toString());
            memory.write(at, initrd);
            ramdisk = new BootParams.Ramdisk(at, initrd.byteSize());
        }
        BootParams.writeCommandLine(memory, BootLayout.CMDLINE, image, config.append());

        int pageDirectories = X86BootCpu.pageDirectories(layout.topOfRam());
        List<E820Entry> memmap = E820Entry.forLayout(layout, BootLayout.bootDataEnd(pageDirectories));
        BootParams.write(memory, BootLayout.ZERO_PAGE, image, loadAddress, BootLayout.CMDLINE, ramdisk, memmap, rsdp);
        long entry = loadAddress + BzImage.ENTRY64_OFFSET;
        X86BootCpu.enterLinux64(bsp, memory, layout.topOfRam(), entry, BootLayout.ZERO_PAGE);
        return new Loaded(KernelFormat.BZIMAGE, BootEntry.LONG, entry, BootLayout.ZERO_PAGE);
    }

    private static BootEntry chooseEntry(MachineConfig config, ElfImage elf) {
        String kernel = config.kernel().toString();
        return switch (config.entry()) {
            case LONG -> {
                if (elf.jkvmEntry64().isEmpty()) {
                    throw new MachineException("kernel " + kernel + " has no jkvm 64-bit entry note, so entry=long cannot be used");
                }
                yield BootEntry.LONG;
            }
            case PVH -> {
                if (elf.pvhEntry().isEmpty()) {
                    throw new MachineException("kernel " + kernel + " has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");
                }
                yield BootEntry.PVH;
            }
            case AUTO -> {
                if (elf.jkvmEntry64().isPresent()) {
                    yield BootEntry.LONG;
                }
                if (elf.pvhEntry().isPresent()) {
                    yield BootEntry.PVH;
                }
                throw new MachineException("kernel " + kernel + " is an ELF without a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); jkvm cannot enter it");
            }
        };
    }

    /** The initrd goes as high in low RAM as it fits, page aligned, as QEMU places it. */
    private static long placeInitrd(PcMemoryLayout layout, long imageTop, long size, Path path) {
        long top = layout.lowRamSize() & ~(PAGE - 1);
        long at = (top - size) & ~(PAGE - 1);
        if (size > top || at < ((imageTop + PAGE - 1) & ~(PAGE - 1))) {
            throw new MachineException(String.format("initrd %s (%d bytes) does not fit in guest RAM above the kernel; give the guest more memory with -m", path, size));
        }
        return at;
    }

    /** Maps a whole file read-only; a missing, unreadable or empty file is a one-line error. */
    static MemorySegment map(Path path, String what, Arena arena) {
        try {
            if (Files.isDirectory(path)) {
                throw new MachineException("could not load " + what + " '" + path + "': Is a directory");
            }
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                long size = ch.size();
                if (size == 0) {
                    throw new MachineException(what + " '" + path + "' is empty");
                }
                return ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            }
        } catch (NoSuchFileException e) {
            throw new MachineException("could not open " + what + " file '" + path + "': No such file or directory");
        } catch (AccessDeniedException e) {
            throw new MachineException("could not open " + what + " file '" + path + "': Permission denied");
        } catch (IOException e) {
            throw new MachineException("could not read " + what + " file '" + path + "': " + e.getMessage());
        }
    }
}
