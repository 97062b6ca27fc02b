package dev.jkvm.machine.firmware;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A small encoder for ACPI Machine Language (ACPI 6.x, chapter 20): each method returns the
 * bytecode of one term, and terms nest by passing their bytes to the enclosing one. Only what a
 * PC's DSDT needs: names, integers, strings, packages, buffers, scopes, devices, methods that
 * return a value, and resource templates ({@link Resources}).
 */
public final class Aml {
    static final int ZERO_OP = 0x00;
    static final int ONE_OP = 0x01;
    static final int NAME_OP = 0x08;
    static final int BYTE_PREFIX = 0x0a;
    static final int WORD_PREFIX = 0x0b;
    static final int DWORD_PREFIX = 0x0c;
    static final int STRING_PREFIX = 0x0d;
    static final int QWORD_PREFIX = 0x0e;
    static final int SCOPE_OP = 0x10;
    static final int BUFFER_OP = 0x11;
    static final int PACKAGE_OP = 0x12;
    static final int METHOD_OP = 0x14;
    static final int DUAL_NAME_PREFIX = 0x2e;
    static final int MULTI_NAME_PREFIX = 0x2f;
    static final int EXT_OP_PREFIX = 0x5b;
    static final int DEVICE_OP = 0x82;       // after EXT_OP_PREFIX
    static final int ROOT_CHAR = 0x5c;       // '\'
    static final int PARENT_PREFIX = 0x5e;   // '^'
    static final int RETURN_OP = 0xa4;
    /** The largest value a PkgLength can encode (28 bits). */
    public static final int PKG_LENGTH_MAX = (1 << 28) - 1;

    private Aml() {
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    /**
     * A PkgLength for a body of {@code bodyLength} bytes: the encoded length counts its own bytes
     * too, so it takes 1 byte up to 63 in total, 2 up to 0xFFF, 3 up to 0xFFFFF, 4 up to 0xFFFFFFF.
     */
    public static byte[] pkgLength(int bodyLength) {
        if (bodyLength < 0) {
            throw new IllegalArgumentException("negative length");
        }
        if (bodyLength + 1 <= 0x3f) {
            return new byte[] {(byte) (bodyLength + 1)};
        }
        for (int n = 2; n <= 4; n++) {
            long total = (long) bodyLength + n;
            if (total < 1L << (4 + 8 * (n - 1))) {
                byte[] b = new byte[n];
                b[0] = (byte) ((n - 1) << 6 | (total & 0x0f));
                for (int i = 1; i < n; i++) {
                    b[i] = (byte) (total >>> (4 + 8 * (i - 1)));
                }
                return b;
            }
        }
        throw new IllegalArgumentException("AML package of " + bodyLength + " bytes is larger than a PkgLength can say");
    }

    /** A NameSeg: four characters, a lead character A-Z or '_', then A-Z, 0-9 or '_'; shorter names are padded with '_'. */
    public static byte[] nameSeg(String seg) {
        if (seg.isEmpty() || seg.length() > 4) {
            throw new IllegalArgumentException("AML name segment '" + seg + "' must have 1 to 4 characters");
        }
        String padded = (seg + "____").substring(0, 4);
        for (int i = 0; i < 4; i++) {
            char c = padded.charAt(i);
            boolean ok = c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9';
            if (!ok) {
                throw new IllegalArgumentException("AML name segment '" + seg + "' has an invalid character '" + c + "'");
            }
        }
        return padded.getBytes(StandardCharsets.US_ASCII);
    }

    /**
     * A NameString in ASL spelling: an optional root prefix {@code \} or parent prefixes {@code ^},
     * then zero or more segments separated by dots ({@code \_SB.PCI0}, {@code ^ISA}, {@code _S5}).
     * No segment is the NullName; two use DualNamePrefix, more MultiNamePrefix.
     */
    public static byte[] nameString(String path) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int i = 0;
        if (path.startsWith("\\")) {
            out.write(ROOT_CHAR);
            i = 1;
        } else {
            while (i < path.length() && path.charAt(i) == '^') {
                out.write(PARENT_PREFIX);
                i++;
            }
        }
        String rest = path.substring(i);
        String[] segs = rest.isEmpty() ? new String[0] : rest.split("\\.", -1);
        if (segs.length == 0) {
            out.write(0x00);
        } else if (segs.length == 1) {
            out.writeBytes(nameSeg(segs[0]));
        } else if (segs.length == 2) {
            out.write(DUAL_NAME_PREFIX);
            out.writeBytes(nameSeg(segs[0]));
            out.writeBytes(nameSeg(segs[1]));
        } else {
            if (segs.length > 255) {
                throw new IllegalArgumentException("AML name path with more than 255 segments");
            }
            out.write(MULTI_NAME_PREFIX);
            out.write(segs.length);
            for (String s : segs) {
                out.writeBytes(nameSeg(s));
            }
        }
        return out.toByteArray();
    }

    /** The shortest encoding of an integer: ZeroOp, OneOp, or a Byte/Word/DWord/QWord constant. */
    public static byte[] integer(long value) {
        if (value == 0) {
            return new byte[] {ZERO_OP};
        }
        if (value == 1) {
            return new byte[] {ONE_OP};
        }
        ByteWriter w = new ByteWriter();
        if (value > 0 && value <= 0xff) {
            w.u8(BYTE_PREFIX).u8((int) value);
        } else if (value > 0 && value <= 0xffff) {
            w.u8(WORD_PREFIX).u16((int) value);
        } else if (value > 0 && value <= 0xffffffffL) {
            w.u8(DWORD_PREFIX).u32(value);
        } else {
            w.u8(QWORD_PREFIX).u64(value);
        }
        return w.toArray();
    }

    /** A String constant (ASCII, NUL-terminated). */
    public static byte[] string(String s) {
        for (char c : s.toCharArray()) {
            if (c == 0 || c > 0x7f) {
                throw new IllegalArgumentException("AML strings are ASCII without NUL: '" + s + "'");
            }
        }
        return concat(new byte[] {STRING_PREFIX}, s.getBytes(StandardCharsets.US_ASCII), new byte[] {0});
    }

    /** A compressed EISA ID ("PNP0A03") as the DWord constant ASL's EisaId() makes. */
    public static byte[] eisaId(String id) {
        return integer(eisaIdValue(id));
    }

    /** The 32-bit value of EisaId(id): three letters in 5 bits each and four hex digits, stored big-endian. */
    public static long eisaIdValue(String id) {
        if (id.length() != 7) {
            throw new IllegalArgumentException("EISA ID '" + id + "' must be 3 letters and 4 hex digits");
        }
        int mfg = 0;
        for (int i = 0; i < 3; i++) {
            char c = id.charAt(i);
            if (c < 'A' || c > 'Z') {
                throw new IllegalArgumentException("EISA ID '" + id + "' must start with 3 capital letters");
            }
            mfg = mfg << 5 | (c - 'A' + 1);
        }
        int product;
        try {
            product = Integer.parseInt(id.substring(3), 16);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("EISA ID '" + id + "' must end in 4 hex digits");
        }
        long bigEndian = (long) mfg << 16 | product;
        return Integer.reverseBytes((int) bigEndian) & 0xffffffffL;
    }

    /** Name(name, value). */
    public static byte[] name(String name, byte[] value) {
        return concat(new byte[] {NAME_OP}, nameString(name), value);
    }

    /** Scope(name) { terms }. */
    public static byte[] scope(String name, byte[]... terms) {
        byte[] body = concat(nameString(name), concat(terms));
        return concat(new byte[] {SCOPE_OP}, pkgLength(body.length), body);
    }

    /** Device(name) { terms }. */
    public static byte[] device(String name, byte[]... terms) {
        byte[] body = concat(nameString(name), concat(terms));
        return concat(new byte[] {EXT_OP_PREFIX, (byte) DEVICE_OP}, pkgLength(body.length), body);
    }

    /** Method(name, argCount, NotSerialized or Serialized) { terms }, sync level 0. */
    public static byte[] method(String name, int argCount, boolean serialized, byte[]... terms) {
        if (argCount < 0 || argCount > 7) {
            throw new IllegalArgumentException("a method takes 0 to 7 arguments");
        }
        byte[] body = concat(nameString(name), new byte[] {(byte) (argCount | (serialized ? 0x08 : 0))}, concat(terms));
        return concat(new byte[] {METHOD_OP}, pkgLength(body.length), body);
    }

    /** Return(value). */
    public static byte[] returnValue(byte[] value) {
        return concat(new byte[] {(byte) RETURN_OP}, value);
    }

    /** Package(n) { elements } with n = the number of elements (at most 255). */
    public static byte[] packageOf(byte[]... elements) {
        if (elements.length > 255) {
            throw new IllegalArgumentException("a Package holds at most 255 elements (use a VarPackage)");
        }
        byte[] body = concat(new byte[] {(byte) elements.length}, concat(elements));
        return concat(new byte[] {PACKAGE_OP}, pkgLength(body.length), body);
    }

    /** Buffer(size) { bytes } with size = the number of bytes. */
    public static byte[] buffer(byte[] data) {
        byte[] body = concat(integer(data.length), data);
        return concat(new byte[] {BUFFER_OP}, pkgLength(body.length), body);
    }

    /** Resource descriptors for a ResourceTemplate (ACPI 6.x section 6.4), ended by an End Tag. */
    public static final class Resources {
        static final int TYPE_MEMORY = 0;
        static final int TYPE_IO = 1;
        static final int TYPE_BUS = 2;
        /** General flags of an address space descriptor: ResourceProducer, PosDecode, MinFixed, MaxFixed. */
        static final int PRODUCER_FIXED = 0x0c;

        private final ByteWriter w = new ByteWriter();

        /** IO(Decode16, min, max, alignment, length). */
        public Resources io(int min, int max, int alignment, int length) {
            w.u8(0x47).u8(0x01).u16(min).u16(max).u8(alignment).u8(length);
            return this;
        }

        private Resources word(int type, int typeFlags, int min, int max) {
            checkRange(min, max, 0xffff);
            w.u8(0x88).u16(13).u8(type).u8(PRODUCER_FIXED).u8(typeFlags)
                    .u16(0).u16(min).u16(max).u16(0).u16(max - min + 1);
            return this;
        }

        /** WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, min, max, 0, max - min + 1). */
        public Resources wordBusNumber(int min, int max) {
            return word(TYPE_BUS, 0, min, max);
        }

        /** WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, min, max, 0, max - min + 1). */
        public Resources wordIo(int min, int max) {
            return word(TYPE_IO, 0x03, min, max);
        }

        private static int memoryFlags(boolean cacheable, boolean readWrite) {
            return (cacheable ? 0x02 : 0) | (readWrite ? 0x01 : 0);
        }

        /** DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable|NonCacheable, ReadWrite|ReadOnly, 0, min, max, 0, length). */
        public Resources dwordMemory(long min, long max, boolean cacheable, boolean readWrite) {
            checkRange(min, max, 0xffffffffL);
            w.u8(0x87).u16(23).u8(TYPE_MEMORY).u8(PRODUCER_FIXED).u8(memoryFlags(cacheable, readWrite))
                    .u32(0).u32(min).u32(max).u32(0).u32(max - min + 1);
            return this;
        }

        /** QWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable|NonCacheable, ReadWrite|ReadOnly, 0, min, max, 0, length). */
        public Resources qwordMemory(long min, long max, boolean cacheable, boolean readWrite) {
            if (Long.compareUnsigned(min, max) > 0) {
                throw new IllegalArgumentException("resource range ends before it starts");
            }
            w.u8(0x8a).u16(43).u8(TYPE_MEMORY).u8(PRODUCER_FIXED).u8(memoryFlags(cacheable, readWrite))
                    .u64(0).u64(min).u64(max).u64(0).u64(max - min + 1);
            return this;
        }

        private static void checkRange(long min, long max, long limit) {
            if (min < 0 || max > limit || min > max) {
                throw new IllegalArgumentException(String.format("resource range 0x%x-0x%x is invalid", min, max));
            }
        }

        /** The descriptors plus the End Tag (checksum 0: "treat as correct"). */
        public byte[] bytes() {
            return Aml.concat(w.toArray(), new byte[] {0x79, 0x00});
        }

        /** The ResourceTemplate as a Buffer term. */
        public byte[] template() {
            return Aml.buffer(bytes());
        }
    }
}
