package dev.jkvm.vmm.boot;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes ELF64 images byte by byte for tests, with the field offsets of the ELF specification
 * (System V gABI, "ELF-64 Object File Format"): a 64-byte file header, the program header table
 * right after it, then the segments' file bytes, each at an 8-byte aligned offset.
 */
final class ElfBuilder {
    // File header field offsets.
    static final int EI_CLASS = 4;
    static final int EI_DATA = 5;
    static final int E_TYPE = 16;
    static final int E_MACHINE = 18;
    static final int E_ENTRY = 24;
    static final int E_PHOFF = 32;
    static final int E_PHENTSIZE = 54;
    static final int E_PHNUM = 56;
    static final int EHDR_SIZE = 64;
    // Program header field offsets.
    static final int P_TYPE = 0;
    static final int P_OFFSET = 8;
    static final int P_PADDR = 24;
    static final int P_FILESZ = 32;
    static final int P_MEMSZ = 40;
    static final int PHDR_SIZE = 56;

    static final int PT_NULL = 0;
    static final int PT_LOAD = 1;
    static final int PT_DYNAMIC = 2;
    static final int PT_NOTE = 4;
    static final int PT_GNU_STACK = 0x6474e551;
    static final int EM_X86_64 = 62;

    /** One program header; a segment with content gets its file offset at build time. */
    record Phdr(int type, long offset, long paddr, long filesz, long memsz, byte[] content) {
    }

    /** A built image and where each program header landed. */
    record Image(byte[] bytes, List<Phdr> phdrs, int phoff, int phentsize) {
        /** File offset of program header {@code i}. */
        int phdrAt(int i) {
            return phoff + i * phentsize;
        }
    }

    private long entry = 0x100000;
    private int phentsize = PHDR_SIZE;
    private final List<Phdr> phdrs = new ArrayList<>();

    ElfBuilder entry(long e) {
        this.entry = e;
        return this;
    }

    ElfBuilder phentsize(int size) {
        this.phentsize = size;
        return this;
    }

    /** A PT_LOAD whose file bytes are {@code content}, to be loaded at {@code paddr}. */
    ElfBuilder load(long paddr, byte[] content, long memsz) {
        phdrs.add(new Phdr(PT_LOAD, -1, paddr, content.length, memsz, content));
        return this;
    }

    /** A PT_NOTE holding {@code notes} (one or more notes, back to back). */
    ElfBuilder notes(byte[] notes) {
        phdrs.add(new Phdr(PT_NOTE, -1, 0, notes.length, notes.length, notes));
        return this;
    }

    /** A program header with exactly these fields and no file bytes of its own. */
    ElfBuilder raw(int type, long offset, long paddr, long filesz, long memsz) {
        phdrs.add(new Phdr(type, offset, paddr, filesz, memsz, null));
        return this;
    }

    Image image() {
        int phoff = EHDR_SIZE;
        int dataStart = align(phoff + phentsize * phdrs.size(), 8);
        List<Phdr> placed = new ArrayList<>();
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        for (Phdr p : phdrs) {
            if (p.content() == null) {
                placed.add(p);
                continue;
            }
            while ((dataStart + data.size()) % 8 != 0) {
                data.write(0);
            }
            placed.add(new Phdr(p.type(), dataStart + data.size(), p.paddr(), p.filesz(), p.memsz(), p.content()));
            data.writeBytes(p.content());
        }
        byte[] out = new byte[dataStart + data.size()];
        out[0] = 0x7f;
        out[1] = 'E';
        out[2] = 'L';
        out[3] = 'F';
        out[EI_CLASS] = 2;          // ELFCLASS64
        out[EI_DATA] = 1;           // ELFDATA2LSB
        out[6] = 1;                 // EV_CURRENT
        put16(out, E_TYPE, 2);      // ET_EXEC
        put16(out, E_MACHINE, EM_X86_64);
        put32(out, 20, 1);          // e_version
        put64(out, E_ENTRY, entry);
        put64(out, E_PHOFF, phoff);
        put16(out, 52, EHDR_SIZE);  // e_ehsize
        put16(out, E_PHENTSIZE, phentsize);
        put16(out, E_PHNUM, placed.size());
        for (int i = 0; i < placed.size(); i++) {
            Phdr p = placed.get(i);
            int at = phoff + i * phentsize;
            put32(out, at + P_TYPE, p.type());
            put32(out, at + 4, p.type() == PT_LOAD ? 7 : 4);  // p_flags
            put64(out, at + P_OFFSET, p.offset());
            put64(out, at + 16, p.paddr());                  // p_vaddr = p_paddr
            put64(out, at + P_PADDR, p.paddr());
            put64(out, at + P_FILESZ, p.filesz());
            put64(out, at + P_MEMSZ, p.memsz());
            put64(out, at + 48, 8);                          // p_align
        }
        byte[] d = data.toByteArray();
        System.arraycopy(d, 0, out, dataStart, d.length);
        return new Image(out, List.copyOf(placed), phoff, phentsize);
    }

    byte[] build() {
        return image().bytes();
    }

    /** One note in the standard format: namesz, descsz, type, name + NUL padded to 4, desc padded to 4. */
    static byte[] note(String name, int type, byte[] desc) {
        byte[] n = (name + "\0").getBytes(StandardCharsets.US_ASCII);
        return rawNote(n.length, desc.length, type, n, desc);
    }

    /** A note header with arbitrary sizes, followed by {@code name} and {@code desc}, each padded to 4. */
    static byte[] rawNote(long namesz, long descsz, int type, byte[] name, byte[] desc) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(le32((int) namesz));
        out.writeBytes(le32((int) descsz));
        out.writeBytes(le32(type));
        out.writeBytes(name);
        while (out.size() % 4 != 0) {
            out.write(0);
        }
        out.writeBytes(desc);
        while (out.size() % 4 != 0) {
            out.write(0);
        }
        return out.toByteArray();
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    static byte[] le32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
    }

    static byte[] le64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    static void put16(byte[] b, int off, int v) {
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putShort(off, (short) v);
    }

    static void put32(byte[] b, int off, int v) {
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(off, v);
    }

    static void put64(byte[] b, int off, long v) {
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(off, v);
    }

    static int align(int v, int a) {
        return (v + a - 1) / a * a;
    }

    /** {@code n} bytes of a recognisable pattern that never repeats within 251 bytes. */
    static byte[] pattern(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) ((i * 7 + seed) % 251 + 1);
        }
        return b;
    }
}
