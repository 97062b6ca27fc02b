package dev.jkvm.vmm.boot;

import dev.jkvm.memory.GuestMemory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalLong;

/**
 * An ELF64 x86-64 executable as a boot loader sees it: the PT_LOAD segments to copy to their
 * physical addresses, the entry point, and the PVH entry from a Xen note. Every header field comes
 * from an untrusted file, so each offset and size is checked against the file before use.
 */
public final class ElfImage {
    /** XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit protected-mode entry of a PVH kernel. */
    public static final int XEN_ELFNOTE_PHYS32_ENTRY = 18;
    /**
     * jkvm's own note (name "jkvm", type 1, 8-byte desc): the address of a 64-bit entry that takes
     * the hvm_start_info in RDI, in long mode with everything identity mapped. A kernel that has
     * it can skip 32-bit code entirely, which PVM hosts can only emulate.
     */
    public static final int JKVM_NOTE_ENTRY64 = 1;
    private static final int PT_LOAD = 1;
    private static final int PT_NOTE = 4;
    private static final int EM_X86_64 = 62;
    private static final int PHDR_SIZE = 56;

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** A PT_LOAD segment: file bytes [offset, offset+fileSize) go to physAddress; the rest up to memSize is zero. */
    public record LoadSegment(long fileOffset, long fileSize, long physAddress, long memSize) {
    }

    private final String name;
    private final MemorySegment file;
    private final long entry;
    private final List<LoadSegment> segments;
    private final OptionalLong pvhEntry;
    private final OptionalLong jkvmEntry64;

    private ElfImage(String name, MemorySegment file, long entry, List<LoadSegment> segments, OptionalLong pvhEntry,
                     OptionalLong jkvmEntry64) {
        this.name = name;
        this.file = file;
        this.entry = entry;
        this.segments = segments;
        this.pvhEntry = pvhEntry;
        this.jkvmEntry64 = jkvmEntry64;
    }

    public static ElfImage parse(MemorySegment file, String name) {
        long size = file.byteSize();
        if (size < 64 || file.get(U32, 0) != 0x464c457f) {
            throw bad(name, "is not an ELF file");
        }
        if (file.get(ValueLayout.JAVA_BYTE, 4) != 2 || file.get(ValueLayout.JAVA_BYTE, 5) != 1) {
            throw bad(name, "is not a 64-bit little-endian ELF file");
        }
        if (Short.toUnsignedInt(file.get(U16, 18)) != EM_X86_64) {
            throw bad(name, "is not an x86-64 executable");
        }
        long entry = file.get(U64, 24);
        long phoff = file.get(U64, 32);
        int phentsize = Short.toUnsignedInt(file.get(U16, 54));
        int phnum = Short.toUnsignedInt(file.get(U16, 56));
        if (phnum == 0) {
            throw bad(name, "has no program headers");
        }
        if (phentsize < PHDR_SIZE || !fits(phoff, (long) phentsize * phnum, size)) {
            throw bad(name, "has program headers outside the file");
        }
        List<LoadSegment> loads = new ArrayList<>();
        OptionalLong pvh = OptionalLong.empty();
        OptionalLong entry64 = OptionalLong.empty();
        for (int i = 0; i < phnum; i++) {
            long ph = phoff + (long) i * phentsize;
            int type = file.get(U32, ph);
            long offset = file.get(U64, ph + 8);
            long paddr = file.get(U64, ph + 24);
            long filesz = file.get(U64, ph + 32);
            long memsz = file.get(U64, ph + 40);
            if (type == PT_LOAD) {
                if (!fits(offset, filesz, size)) {
                    throw bad(name, String.format("segment %d (file offset 0x%x, size 0x%x) lies outside the file", i, offset, filesz));
                }
                if (Long.compareUnsigned(filesz, memsz) > 0) {
                    throw bad(name, "segment " + i + " has more file bytes than memory bytes");
                }
                if (memsz != 0) {
                    // memsz and paddr are unsigned: a value with bit 63 set, or a range past 2^63, has
                    // no place in guest-physical space and must not be dropped or wrapped silently.
                    if (paddr < 0 || memsz < 0 || memsz > Long.MAX_VALUE - paddr) {
                        throw bad(name, String.format("segment %d (address 0x%x, size 0x%x) runs past the end of the address space",
                                i, paddr, memsz));
                    }
                    loads.add(new LoadSegment(offset, filesz, paddr, memsz));
                }
            } else if (type == PT_NOTE && fits(offset, filesz, size)) {
                MemorySegment notes = file.asSlice(offset, filesz);
                OptionalLong found = findNote(notes, "Xen", XEN_ELFNOTE_PHYS32_ENTRY);
                pvh = found.isPresent() ? found : pvh;
                found = findNote(notes, "jkvm", JKVM_NOTE_ENTRY64);
                entry64 = found.isPresent() ? found : entry64;
            }
        }
        if (loads.isEmpty()) {
            throw bad(name, "has no loadable segments");
        }
        return new ElfImage(name, file, entry, List.copyOf(loads), pvh, entry64);
    }

    private static boolean fits(long offset, long length, long size) {
        return offset >= 0 && length >= 0 && offset <= size && length <= size - offset;
    }

    /**
     * Walks a note segment, {namesz, descsz, type, name (padded to 4), desc (padded to 4)}..., for
     * a note with this owner and type whose desc is a 4- or 8-byte address.
     */
    private static OptionalLong findNote(MemorySegment notes, String owner, int wantedType) {
        byte[] ownerBytes = (owner + "\0").getBytes(StandardCharsets.US_ASCII);
        long p = 0;
        long size = notes.byteSize();
        while (size - p >= 12) {
            long namesz = Integer.toUnsignedLong(notes.get(U32, p));
            long descsz = Integer.toUnsignedLong(notes.get(U32, p + 4));
            int type = notes.get(U32, p + 8);
            long nameOff = p + 12;
            long descOff = nameOff + align4(namesz);
            long next = descOff + align4(descsz);
            if (namesz > size || descsz > size || next > size) {
                break;
            }
            if (type == wantedType && namesz == ownerBytes.length
                    && Arrays.equals(ownerBytes, notes.asSlice(nameOff, namesz).toArray(ValueLayout.JAVA_BYTE))) {
                if (descsz == 4) {
                    return OptionalLong.of(Integer.toUnsignedLong(notes.get(U32, descOff)));
                }
                if (descsz == 8) {
                    return OptionalLong.of(notes.get(U64, descOff));
                }
            }
            p = next;
        }
        return OptionalLong.empty();
    }

    private static long align4(long v) {
        return (v + 3) & ~3L;
    }

    private static KernelImageException bad(String name, String what) {
        return new KernelImageException("kernel " + name + " " + what);
    }

    public long entry() {
        return entry;
    }

    public OptionalLong pvhEntry() {
        return pvhEntry;
    }

    /** The 64-bit entry from a jkvm note, when the kernel declares one. */
    public OptionalLong jkvmEntry64() {
        return jkvmEntry64;
    }

    public List<LoadSegment> segments() {
        return segments;
    }

    /** Copies every PT_LOAD segment into guest memory; returns the first address above the image. */
    public long load(GuestMemory memory) {
        long top = 0;
        for (LoadSegment s : segments) {
            if (s.physAddress() < BootLayout.KERNEL_MIN || !memory.contains(s.physAddress(), s.memSize())) {
                throw bad(name, String.format("segment at 0x%x-0x%x does not fit in guest RAM from 1 MiB up%s",
                        s.physAddress(), s.physAddress() + s.memSize(), memory.size() < s.physAddress() + s.memSize() ? " (is -m too small?)" : ""));
            }
        }
        for (LoadSegment s : segments) {
            memory.write(s.physAddress(), file.asSlice(s.fileOffset(), s.fileSize()));
            if (s.memSize() > s.fileSize()) {
                memory.fill(s.physAddress() + s.fileSize(), s.memSize() - s.fileSize(), (byte) 0);
            }
            top = Math.max(top, s.physAddress() + s.memSize());
        }
        return top;
    }
}
