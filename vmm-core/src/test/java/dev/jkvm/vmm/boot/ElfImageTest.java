package dev.jkvm.vmm.boot;

import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.GuestRam;
import dev.jkvm.memory.PcMemoryLayout;
import dev.jkvm.memory.RamOptions;
import dev.jkvm.vmm.boot.ElfImage.LoadSegment;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

import static dev.jkvm.vmm.boot.ElfBuilder.E_ENTRY;
import static dev.jkvm.vmm.boot.ElfBuilder.E_PHENTSIZE;
import static dev.jkvm.vmm.boot.ElfBuilder.E_PHNUM;
import static dev.jkvm.vmm.boot.ElfBuilder.E_PHOFF;
import static dev.jkvm.vmm.boot.ElfBuilder.P_FILESZ;
import static dev.jkvm.vmm.boot.ElfBuilder.P_MEMSZ;
import static dev.jkvm.vmm.boot.ElfBuilder.P_OFFSET;
import static dev.jkvm.vmm.boot.ElfBuilder.P_PADDR;
import static dev.jkvm.vmm.boot.ElfBuilder.PT_LOAD;
import static dev.jkvm.vmm.boot.ElfBuilder.PT_NOTE;
import static dev.jkvm.vmm.boot.ElfBuilder.le32;
import static dev.jkvm.vmm.boot.ElfBuilder.le64;
import static dev.jkvm.vmm.boot.ElfBuilder.note;
import static dev.jkvm.vmm.boot.ElfBuilder.pattern;
import static dev.jkvm.vmm.boot.ElfBuilder.put16;
import static dev.jkvm.vmm.boot.ElfBuilder.put64;
import static dev.jkvm.vmm.boot.ElfBuilder.rawNote;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class ElfImageTest {
    private static final String NAME = "/images/evil-kernel.elf";
    private static final long MiB = 1L << 20;
    private static final int XEN_PHYS32_ENTRY = 18;
    private static final int JKVM_ENTRY64 = 1;
    private static final byte GARBAGE = (byte) 0xa5;

    static ElfImage parse(byte[] bytes) {
        return ElfImage.parse(MemorySegment.ofArray(bytes), NAME);
    }

    /** The file must be refused with a KernelImageException that names it; any other throwable fails. */
    static KernelImageException assertRejected(byte[] bytes) {
        try {
            ElfImage img = parse(bytes);
            fail("accepted a bad image: entry 0x" + Long.toHexString(img.entry()) + ", segments " + img.segments());
            return null;
        } catch (KernelImageException e) {
            assertNotNull(e.getMessage());
            assertTrue(e.getMessage().contains(NAME), "message does not name the file: " + e.getMessage());
            return e;
        } catch (Throwable t) {
            throw new AssertionError("expected KernelImageException, got " + t, t);
        }
    }

    /** A good image: one text segment at 1 MiB, a data segment with bss, and one PT_NOTE. */
    static ElfBuilder goodImage(byte[] notes) {
        ElfBuilder b = new ElfBuilder().entry(0x100010)
                .load(0x100000, pattern(0x300, 1), 0x300)
                .load(0x200000, pattern(0x80, 2), 0x1000);
        if (notes != null) {
            b.notes(notes);
        }
        return b;
    }

    static byte[] desc4(int v) {
        return le32(v);
    }

    static byte[] desc8(long v) {
        return le64(v);
    }

    @Nested
    class Parse {
        @Test
        void entryAndLoadSegmentsComeFromTheHeaders() {
            byte[] text = pattern(0x123, 3);
            byte[] data = pattern(0x40, 4);
            ElfBuilder.Image img = new ElfBuilder().entry(0x1000ab)
                    .load(0x100000, text, text.length)
                    .load(0x180000, data, 0x5000)
                    .image();
            ElfImage elf = parse(img.bytes());
            assertEquals(0x1000ab, elf.entry());
            List<LoadSegment> segs = elf.segments();
            assertEquals(2, segs.size());
            ElfBuilder.Phdr t = img.phdrs().get(0);
            ElfBuilder.Phdr d = img.phdrs().get(1);
            assertEquals(new LoadSegment(t.offset(), text.length, 0x100000, text.length), segs.get(0));
            assertEquals(new LoadSegment(d.offset(), data.length, 0x180000, 0x5000), segs.get(1));
            // The file offsets really point at the segment bytes.
            assertArrayEquals(text, Arrays.copyOfRange(img.bytes(), (int) segs.get(0).fileOffset(),
                    (int) (segs.get(0).fileOffset() + segs.get(0).fileSize())));
            assertTrue(elf.pvhEntry().isEmpty());
            assertTrue(elf.jkvmEntry64().isEmpty());
        }

        @Test
        void entryIsTheFull64BitValue() {
            byte[] b = goodImage(null).entry(0xffffffff81000000L).build();
            assertEquals(0xffffffff81000000L, parse(b).entry());
        }

        @Test
        void nonLoadSegmentsAreIgnoredAndEmptyLoadSegmentsAreSkipped() {
            ElfBuilder.Image img = new ElfBuilder()
                    .raw(ElfBuilder.PT_GNU_STACK, 0, 0, 0, 0)
                    .raw(ElfBuilder.PT_NULL, 0, 0, 0, 0)
                    .load(0x100000, pattern(16, 5), 16)
                    .raw(PT_LOAD, 0, 0x300000, 0, 0)      // nothing to load
                    .image();
            ElfImage elf = parse(img.bytes());
            assertEquals(List.of(new LoadSegment(img.phdrs().get(2).offset(), 16, 0x100000, 16)), elf.segments());
        }

        @Test
        void bssOnlySegmentIsKept() {
            byte[] b = new ElfBuilder().load(0x100000, pattern(16, 5), 16).raw(PT_LOAD, 0, 0x200000, 0, 0x3000).build();
            ElfImage elf = parse(b);
            assertEquals(2, elf.segments().size());
            assertEquals(new LoadSegment(0, 0, 0x200000, 0x3000), elf.segments().get(1));
        }

        @Test
        void largerProgramHeaderEntriesAreStridedBy_e_phentsize() {
            ElfBuilder.Image img = new ElfBuilder().phentsize(64)
                    .load(0x100000, pattern(32, 1), 32)
                    .load(0x140000, pattern(48, 2), 64)
                    .image();
            ElfImage elf = parse(img.bytes());
            assertEquals(List.of(0x100000L, 0x140000L), elf.segments().stream().map(LoadSegment::physAddress).toList());
            assertEquals(64, elf.segments().get(1).memSize());
        }

        @Test
        void segmentEndingExactlyAtEndOfFileIsAccepted() {
            ElfBuilder.Image img = new ElfBuilder().load(0x100000, pattern(40, 1), 40).image();
            ElfBuilder.Phdr p = img.phdrs().get(0);
            assertEquals(img.bytes().length, p.offset() + p.filesz(), "the builder puts the only segment last");
            assertEquals(40, parse(img.bytes()).segments().get(0).fileSize());
        }

        @Test
        void filesizeEqualToMemsizeIsFine() {
            assertEquals(0x300, parse(goodImage(null).build()).segments().get(0).memSize());
        }
    }

    @Nested
    class Notes {
        @Test
        void pvhNoteWithFourByteDescIsZeroExtended() {
            ElfImage elf = parse(goodImage(note("Xen", XEN_PHYS32_ENTRY, desc4(0x80100040))).build());
            assertEquals(OptionalLong.of(0x80100040L), elf.pvhEntry());
            assertTrue(elf.jkvmEntry64().isEmpty());
        }

        @Test
        void pvhNoteWithEightByteDesc() {
            ElfImage elf = parse(goodImage(note("Xen", XEN_PHYS32_ENTRY, desc8(0x1000000L))).build());
            assertEquals(OptionalLong.of(0x1000000L), elf.pvhEntry());
        }

        @Test
        void jkvmNoteWithEightByteDesc() {
            ElfImage elf = parse(goodImage(note("jkvm", JKVM_ENTRY64, desc8(0x1000ebL))).build());
            assertEquals(OptionalLong.of(0x1000ebL), elf.jkvmEntry64());
            assertTrue(elf.pvhEntry().isEmpty());
        }

        @Test
        void severalNotesInOneSegmentWithOddPadding() {
            byte[] notes = ElfBuilder.concat(
                    note("GNU", 3, pattern(20, 9)),                 // build id: 20-byte desc
                    note("Linux", 0x100, pattern(5, 1)),            // namesz 6 -> pad 2; descsz 5 -> pad 3
                    note("Xen", 5, "linux\0".getBytes(StandardCharsets.US_ASCII)), // XEN_ELFNOTE_GUEST_OS, 6 bytes
                    note("jkvm", JKVM_ENTRY64, desc8(0x100123L)),   // namesz 5 -> pad 3
                    note("Xen", XEN_PHYS32_ENTRY, desc4(0x100456)),
                    note("x", 7, new byte[0]));                     // namesz 2, empty desc
            ElfImage elf = parse(goodImage(notes).build());
            assertEquals(OptionalLong.of(0x100123L), elf.jkvmEntry64());
            assertEquals(OptionalLong.of(0x100456L), elf.pvhEntry());
        }

        @Test
        void notesInSeparateNoteSegmentsAreAllFound() {
            byte[] b = goodImage(note("Xen", XEN_PHYS32_ENTRY, desc4(0x100040)))
                    .notes(note("jkvm", JKVM_ENTRY64, desc8(0x1000eb)))
                    .build();
            ElfImage elf = parse(b);
            assertEquals(OptionalLong.of(0x100040L), elf.pvhEntry());
            assertEquals(OptionalLong.of(0x1000ebL), elf.jkvmEntry64());
        }

        @Test
        void ownerAndTypeMustBothMatch() {
            byte[] notes = ElfBuilder.concat(
                    note("Xen", 17, desc4(0x111111)),              // right owner, wrong type
                    note("XEN", XEN_PHYS32_ENTRY, desc4(0x222222)), // owner compared exactly
                    note("Xenon", XEN_PHYS32_ENTRY, desc4(0x333333)),
                    note("jkvm", 2, desc8(0x444444)),
                    note("jkvmx", JKVM_ENTRY64, desc8(0x555555)),
                    note("Xe", XEN_PHYS32_ENTRY, desc4(0x666666)));
            ElfImage elf = parse(goodImage(notes).build());
            assertTrue(elf.pvhEntry().isEmpty(), () -> "found " + elf.pvhEntry());
            assertTrue(elf.jkvmEntry64().isEmpty(), () -> "found " + elf.jkvmEntry64());
        }

        @ParameterizedTest
        @ValueSource(ints = {0, 1, 2, 3, 5, 7, 12, 16})
        void descOfAnotherSizeIsNotAnAddress(int size) {
            byte[] notes = ElfBuilder.concat(note("Xen", XEN_PHYS32_ENTRY, pattern(size, 3)),
                    note("jkvm", JKVM_ENTRY64, pattern(size, 4)));
            ElfImage elf = parse(goodImage(notes).build());
            assertTrue(elf.pvhEntry().isEmpty());
            assertTrue(elf.jkvmEntry64().isEmpty());
        }

        @Test
        void aGoodNoteBeforeABrokenOneIsStillFound() {
            byte[] notes = ElfBuilder.concat(note("Xen", XEN_PHYS32_ENTRY, desc4(0x100040)),
                    rawNote(0xfffffff0L, 4, JKVM_ENTRY64, "jkvm\0".getBytes(StandardCharsets.US_ASCII), desc8(1)));
            ElfImage elf = parse(goodImage(notes).build());
            assertEquals(OptionalLong.of(0x100040L), elf.pvhEntry());
            assertTrue(elf.jkvmEntry64().isEmpty());
        }

        /** Note headers whose sizes run past the segment: parsing works, no note is taken, nothing is read outside. */
        @ParameterizedTest
        @ValueSource(longs = {0xffffffffL, 0xfffffffcL, 0x80000000L, 0x7fffffffL, 0x1000L, 41})
        void namesizeOrDescsizePastTheSegmentGivesNoNote(long size) {
            byte[] xen = "Xen\0".getBytes(StandardCharsets.US_ASCII);
            for (byte[] notes : List.of(
                    rawNote(size, 4, XEN_PHYS32_ENTRY, xen, desc4(0x100040)),
                    rawNote(4, size, XEN_PHYS32_ENTRY, xen, desc4(0x100040)),
                    rawNote(size, size, XEN_PHYS32_ENTRY, xen, desc4(0x100040)))) {
                // Followed by a note that a walk gone astray could land on; the segment is 40 bytes.
                byte[] seg = ElfBuilder.concat(notes, note("Xen", XEN_PHYS32_ENTRY, desc4(0xbad)));
                assertEquals(40, seg.length);
                ElfImage elf = parse(goodImage(seg).build());
                assertTrue(elf.pvhEntry().isEmpty(), () -> "found " + elf.pvhEntry() + " for size 0x" + Long.toHexString(size));
            }
        }

        @Test
        void descRunningPastTheEndOfTheSegmentGivesNoNote() {
            byte[] full = note("jkvm", JKVM_ENTRY64, desc8(0x1000eb));
            for (int cut = 0; cut < full.length; cut++) {
                byte[] seg = Arrays.copyOf(full, cut);
                ElfImage elf = parse(goodImage(seg).build());
                assertTrue(elf.jkvmEntry64().isEmpty(), "note cut to " + seg.length + " bytes was accepted");
            }
            assertEquals(OptionalLong.of(0x1000ebL), parse(goodImage(full).build()).jkvmEntry64());
        }

        @Test
        void noteSegmentOutsideTheFileIsIgnored() {
            for (long[] offSize : new long[][] {{0x100000, 16}, {0, 0x100000}, {0xfffffffffffffff0L, 0x20},
                    {0x40, 0xfffffffffffffff0L}, {-1, 1}}) {
                byte[] b = goodImage(null).raw(PT_NOTE, offSize[0], 0, offSize[1], offSize[1]).build();
                ElfImage elf = parse(b);
                assertTrue(elf.pvhEntry().isEmpty());
                assertEquals(2, elf.segments().size());
            }
        }

        @Test
        void emptyNoteSegment() {
            ElfImage elf = parse(goodImage(new byte[0]).build());
            assertTrue(elf.pvhEntry().isEmpty());
            assertTrue(elf.jkvmEntry64().isEmpty());
        }
    }

    @Nested
    class Hostile {
        @Test
        void emptyAndShortFiles() {
            byte[] good = goodImage(null).build();
            for (int len : new int[] {0, 1, 4, 16, 63}) {
                assertRejected(Arrays.copyOf(good, len));
            }
        }

        @Test
        void wrongMagic() {
            for (int i = 0; i < 4; i++) {
                byte[] b = goodImage(null).build();
                b[i] ^= 0x20;
                assertRejected(b);
            }
            byte[] mz = goodImage(null).build();
            mz[0] = 'M';
            mz[1] = 'Z';
            assertRejected(mz);
        }

        @Test
        void thirtyTwoBitClass() {
            byte[] b = goodImage(null).build();
            b[ElfBuilder.EI_CLASS] = 1;
            assertTrue(assertRejected(b).getMessage().contains("64-bit"));
        }

        @Test
        void invalidClass() {
            byte[] b = goodImage(null).build();
            b[ElfBuilder.EI_CLASS] = 0;
            assertRejected(b);
        }

        @Test
        void bigEndian() {
            byte[] b = goodImage(null).build();
            b[ElfBuilder.EI_DATA] = 2;
            assertTrue(assertRejected(b).getMessage().contains("little-endian"));
        }

        @ParameterizedTest
        @ValueSource(ints = {0, 3 /* i386 */, 40 /* ARM */, 183 /* AArch64 */, 243 /* RISC-V */, 62 << 8})
        void wrongMachine(int machine) {
            byte[] b = goodImage(null).build();
            put16(b, ElfBuilder.E_MACHINE, machine);
            assertTrue(assertRejected(b).getMessage().contains("x86-64"));
        }

        @Test
        void noProgramHeaders() {
            byte[] b = goodImage(null).build();
            put16(b, E_PHNUM, 0);
            assertRejected(b);
        }

        @Test
        void noLoadableSegments() {
            assertRejected(new ElfBuilder().notes(note("Xen", XEN_PHYS32_ENTRY, desc4(0x100040))).build());
            assertRejected(new ElfBuilder().raw(PT_LOAD, 0, 0x100000, 0, 0).build());
        }

        @ParameterizedTest
        @ValueSource(longs = {0x10000, 0x7fffffffffffffffL, 0x8000000000000000L, 0xfffffffffffffff0L, -1L, -56L})
        void programHeadersOutsideTheFile(long phoff) {
            byte[] b = goodImage(null).build();
            put64(b, E_PHOFF, phoff);
            assertRejected(b);
        }

        @Test
        void programHeaderTableRunningOnePastTheEnd() {
            ElfBuilder.Image img = new ElfBuilder().raw(PT_LOAD, 0, 0x100000, 0, 0x1000).image();
            byte[] b = img.bytes();
            assertEquals(ElfBuilder.EHDR_SIZE + ElfBuilder.PHDR_SIZE, b.length);
            // Move the table one byte later: its last byte is now past EOF.
            put64(b, E_PHOFF, ElfBuilder.EHDR_SIZE + 1);
            assertRejected(b);
            // And the table exactly at the end is fine.
            put64(b, E_PHOFF, ElfBuilder.EHDR_SIZE);
            assertEquals(1, parse(b).segments().size());
        }

        @Test
        void programHeaderCountPastTheEnd() {
            byte[] b = goodImage(null).build();
            put16(b, E_PHNUM, 0xffff);
            assertRejected(b);
        }

        @ParameterizedTest
        @ValueSource(ints = {0, 1, 32, 55})
        void programHeaderEntriesTooSmall(int phentsize) {
            byte[] b = goodImage(null).build();
            put16(b, E_PHENTSIZE, phentsize);
            assertRejected(b);
        }

        @Test
        void hugeProgramHeaderEntrySize() {
            byte[] b = goodImage(null).build();
            put16(b, E_PHENTSIZE, 0xffff);
            assertRejected(b);
        }

        /** Patches a field of the first PT_LOAD header of the good image. */
        private byte[] withLoadField(int field, long value) {
            ElfBuilder.Image img = goodImage(null).image();
            byte[] b = img.bytes();
            put64(b, img.phdrAt(0) + field, value);
            return b;
        }

        @ParameterizedTest
        @ValueSource(longs = {0x10000000L, 0x7fffffffffffffffL, 0x8000000000000000L, 0xfffffffffffffff0L, -1L})
        void segmentOffsetOutsideTheFile(long offset) {
            assertRejected(withLoadField(P_OFFSET, offset));
        }

        @ParameterizedTest
        @ValueSource(longs = {0x10000000L, 0x7fffffffffffffffL, 0x8000000000000000L, 0xfffffffffffffff0L, -1L})
        void segmentFilesizePastTheEndOfTheFile(long filesz) {
            byte[] b = withLoadField(P_FILESZ, filesz);
            // Keep memsz >= filesz, so only the file check can refuse it.
            ElfBuilder.Image img = goodImage(null).image();
            put64(b, img.phdrAt(0) + P_MEMSZ, -1L);
            assertRejected(b);
        }

        @Test
        void segmentOneBytePastTheEndOfTheFile() {
            ElfBuilder.Image img = new ElfBuilder().load(0x100000, pattern(40, 1), 40).image();
            byte[] b = img.bytes();
            put64(b, img.phdrAt(0) + P_FILESZ, 41);
            put64(b, img.phdrAt(0) + P_MEMSZ, 41);
            KernelImageException e = assertRejected(b);
            assertTrue(e.getMessage().contains("segment 0"), e.getMessage());
        }

        @Test
        void offsetPlusFilesizeThatWrapsAround() {
            ElfBuilder.Image img = goodImage(null).image();
            byte[] b = img.bytes();
            put64(b, img.phdrAt(0) + P_OFFSET, 0x40);
            put64(b, img.phdrAt(0) + P_FILESZ, 0xfffffffffffffff0L);
            put64(b, img.phdrAt(0) + P_MEMSZ, 0xfffffffffffffff0L);
            assertRejected(b);
        }

        @Test
        void filesizeLargerThanMemsize() {
            ElfBuilder.Image img = goodImage(null).image();
            byte[] b = img.bytes();
            put64(b, img.phdrAt(0) + P_MEMSZ, img.phdrs().get(0).filesz() - 1);
            assertRejected(b);
        }

        @Test
        void filesizeLargerThanAWrappedMemsize() {
            // memsz reads as a tiny unsigned value, not as a huge one.
            ElfBuilder.Image img = goodImage(null).image();
            byte[] b = img.bytes();
            put64(b, img.phdrAt(0) + P_MEMSZ, 0);
            assertRejected(b);
        }

        /**
         * A segment whose physical range wraps around the address space must not be silently dropped or
         * loaded at the bottom of memory: parsing or loading it fails with a typed exception.
         */
        @ParameterizedTest
        @ValueSource(longs = {0xfffffffffffffff0L, 0x8000000000000000L, -1L})
        void hugeMemsizeIsRefused(long memsz) {
            // Alone, and after a good segment.
            for (boolean alone : new boolean[] {true, false}) {
                ElfBuilder b = new ElfBuilder();
                if (!alone) {
                    b.load(0x100000, pattern(64, 1), 64);
                }
                b.load(0x200000, pattern(32, 2), 32);
                ElfBuilder.Image img = b.image();
                byte[] bytes = img.bytes();
                put64(bytes, img.phdrAt(alone ? 0 : 1) + P_MEMSZ, memsz);
                assertRefusedByParseOrLoad(bytes);
            }
        }

        @ParameterizedTest
        @ValueSource(longs = {0xfffffffffffff000L, 0xfffffffffffffff0L, 0x8000000000000000L, 0x7ffffffffffff000L})
        void physicalAddressThatWrapsAround(long paddr) {
            ElfBuilder.Image img = new ElfBuilder().load(0x100000, pattern(64, 1), 64).load(0x200000, pattern(32, 2), 0x2000).image();
            byte[] bytes = img.bytes();
            put64(bytes, img.phdrAt(1) + P_PADDR, paddr);
            assertRefusedByParseOrLoad(bytes);
        }

        private void assertRefusedByParseOrLoad(byte[] bytes) {
            ElfImage elf;
            try {
                elf = parse(bytes);
            } catch (KernelImageException e) {
                assertTrue(e.getMessage().contains(NAME), e.getMessage());
                return;
            } catch (Throwable t) {
                throw new AssertionError("expected KernelImageException, got " + t, t);
            }
            try {
                elf.load(memory);
                fail("loaded an image with a segment that wraps around: " + elf.segments());
            } catch (KernelImageException e) {
                assertTrue(e.getMessage().contains(NAME), e.getMessage());
            } catch (Throwable t) {
                throw new AssertionError("expected KernelImageException, got " + t, t);
            }
        }

        /** Every prefix of a good image is either a good image or a KernelImageException, never anything else. */
        @Test
        void everyTruncationIsHandled() {
            byte[] good = goodImage(ElfBuilder.concat(note("jkvm", JKVM_ENTRY64, desc8(0x1000eb)),
                    note("Xen", XEN_PHYS32_ENTRY, desc4(0x100040)))).build();
            for (int len = 0; len < good.length; len++) {
                parseOrKernelImageException(Arrays.copyOf(good, len), "truncated to " + len);
            }
        }

        /** Every byte of the headers and notes set to a few nasty values: parse and load never throw anything untyped. */
        @Test
        void headerAndNoteByteMutationsNeverEscapeAsOtherExceptions() {
            ElfBuilder.Image img = goodImage(ElfBuilder.concat(note("jkvm", JKVM_ENTRY64, desc8(0x1000eb)),
                    note("Xen", XEN_PHYS32_ENTRY, desc4(0x100040)))).image();
            ElfBuilder.Phdr notes = img.phdrs().get(2);
            int end = (int) (notes.offset() + notes.filesz());
            int[] values = {0x00, 0xff, 0x7f, 0x80, 0x01, 0xf0};
            int accepted = 0;
            for (int pos = 0; pos < end; pos++) {
                // The segment bytes of the load segments do not matter to the parser; skip them.
                if (pos >= img.phdrs().get(0).offset() && pos < notes.offset()) {
                    continue;
                }
                for (int v : values) {
                    byte[] b = img.bytes().clone();
                    b[pos] = (byte) v;
                    ElfImage elf = parseOrKernelImageException(b, "byte " + pos + " = 0x" + Integer.toHexString(v));
                    if (elf != null) {
                        accepted++;
                        loadOrKernelImageException(elf, "byte " + pos + " = 0x" + Integer.toHexString(v));
                    }
                }
            }
            assertTrue(accepted > 0, "no mutation was harmless, so the loop did not exercise load");
        }

        /** Each 8-byte field of the headers set to values that overflow when added to anything. */
        @Test
        void sixtyFourBitFieldsSetToOverflowingValues() {
            ElfBuilder.Image img = goodImage(note("Xen", XEN_PHYS32_ENTRY, desc4(0x100040))).image();
            long[] values = {0xfffffffffffffff0L, 0x8000000000000000L, 0x7ffffffffffffff8L, -1L, 0xffffffffL};
            for (int i = 0; i < img.phdrs().size(); i++) {
                for (int field = 8; field < 56; field += 8) {
                    for (long v : values) {
                        byte[] b = img.bytes().clone();
                        put64(b, img.phdrAt(i) + field, v);
                        String what = "phdr " + i + " field " + field + " = 0x" + Long.toHexString(v);
                        ElfImage elf = parseOrKernelImageException(b, what);
                        if (elf != null) {
                            loadOrKernelImageException(elf, what);
                        }
                    }
                }
            }
        }

        private ElfImage parseOrKernelImageException(byte[] b, String what) {
            try {
                return parse(b);
            } catch (KernelImageException e) {
                assertTrue(e.getMessage().contains(NAME), what + ": message does not name the file: " + e.getMessage());
                return null;
            } catch (Throwable t) {
                throw new AssertionError(what + ": expected KernelImageException, got " + t, t);
            }
        }

        private void loadOrKernelImageException(ElfImage elf, String what) {
            try {
                elf.load(memory);
            } catch (KernelImageException e) {
                assertTrue(e.getMessage().contains(NAME), what + ": message does not name the file: " + e.getMessage());
            } catch (Throwable t) {
                throw new AssertionError(what + ": load: expected KernelImageException, got " + t, t);
            }
        }
    }

    // --- load() ---

    private static final long RAM = 16 * MiB;
    private static GuestRam ram;
    private static GuestMemory memory;

    @BeforeAll
    static void allocate() {
        ram = GuestRam.allocate(RAM, new RamOptions(null, false, false, false));
        memory = GuestMemory.of(ram, PcMemoryLayout.forRamSize(RAM));
    }

    @AfterAll
    static void free() {
        ram.close();
    }

    static byte[] read(GuestMemory mem, long gpa, int len) {
        byte[] b = new byte[len];
        mem.read(gpa, b, 0, len);
        return b;
    }

    static void assertAll(GuestMemory mem, long gpa, long len, byte value) {
        byte[] b = read(mem, gpa, (int) len);
        for (int i = 0; i < b.length; i++) {
            if (b[i] != value) {
                fail(String.format("byte at 0x%x is 0x%02x, expected 0x%02x", gpa + i, b[i], value));
            }
        }
    }

    @Nested
    class Load {
        @Test
        void bytesLandAtTheirPhysicalAddressesAndBssIsZeroed() {
            byte[] text = pattern(0x1234, 11);
            byte[] data = pattern(0x321, 12);
            ElfImage elf = parse(new ElfBuilder().entry(0x100000)
                    .load(0x100000, text, text.length)
                    .load(0x400000, data, 0x5000)
                    .build());
            memory.fill(0, RAM, GARBAGE);
            long top = elf.load(memory);

            assertArrayEquals(text, read(memory, 0x100000, text.length));
            assertArrayEquals(data, read(memory, 0x400000, data.length));
            assertAll(memory, 0x400000 + data.length, 0x5000 - data.length, (byte) 0);
            // Nothing around the segments is touched.
            assertAll(memory, 0x100000 - 0x1000, 0x1000, GARBAGE);
            assertAll(memory, 0x100000 + text.length, 0x400000 - 0x100000 - text.length, GARBAGE);
            assertAll(memory, 0x405000, 0x1000, GARBAGE);
            assertEquals(0x405000, top, "load returns the first address above the image");
        }

        @Test
        void segmentsMayComeInAnyOrderAndTopIsTheHighestEnd() {
            ElfImage elf = parse(new ElfBuilder()
                    .load(0x800000, pattern(16, 1), 0x20)
                    .load(0x100000, pattern(16, 2), 0x10)
                    .build());
            memory.fill(0x100000, 0x800000, GARBAGE);
            assertEquals(0x800020, elf.load(memory));
            assertArrayEquals(pattern(16, 2), read(memory, 0x100000, 16));
            assertArrayEquals(pattern(16, 1), read(memory, 0x800000, 16));
            assertAll(memory, 0x800010, 0x10, (byte) 0);
        }

        @Test
        void segmentEndingExactlyAtTopOfRamFits() {
            ElfImage elf = parse(new ElfBuilder().load(RAM - 0x2000, pattern(0x1000, 3), 0x2000).build());
            memory.fill(RAM - 0x2000, 0x2000, GARBAGE);
            assertEquals(RAM, elf.load(memory));
            assertArrayEquals(pattern(0x1000, 3), read(memory, RAM - 0x2000, 0x1000));
            assertAll(memory, RAM - 0x1000, 0x1000, (byte) 0);
        }

        @Test
        void segmentStartingExactlyAtOneMiBFits() {
            ElfImage elf = parse(new ElfBuilder().load(BootLayout.KERNEL_MIN, pattern(8, 3), 8).build());
            elf.load(memory);
            assertArrayEquals(pattern(8, 3), read(memory, BootLayout.KERNEL_MIN, 8));
        }

        @ParameterizedTest
        @ValueSource(longs = {0, 0x7000, 0x9f000, 0xf0000, 0xff000})
        void segmentBelowOneMiBIsRefused(long paddr) {
            ElfImage elf = parse(new ElfBuilder().load(0x100000, pattern(64, 1), 64).load(paddr, pattern(16, 2), 0x1000).build());
            memory.fill(0, 2 * MiB, GARBAGE);
            KernelImageException e = assertThrows(KernelImageException.class, () -> elf.load(memory));
            assertTrue(e.getMessage().contains(NAME), e.getMessage());
            assertTrue(e.getMessage().contains(Long.toHexString(paddr)), "message does not name the address: " + e.getMessage());
            // Refused before anything is copied: the good segment was not written either.
            assertAll(memory, 0, 2 * MiB, GARBAGE);
        }

        @Test
        void segmentStraddlingOneMiBIsRefused() {
            ElfImage elf = parse(new ElfBuilder().load(0xff000, pattern(16, 2), 0x2000).build());
            assertThrows(KernelImageException.class, () -> elf.load(memory));
        }

        @ParameterizedTest
        @ValueSource(longs = {RAM, RAM - 0x1000, 0x40000000L, 0xc0000000L, 0xfee00000L, 0x100000000L})
        void segmentBeyondRamIsRefused(long paddr) {
            ElfImage elf = parse(new ElfBuilder().load(0x100000, pattern(64, 1), 64).load(paddr, pattern(16, 2), 0x2000).build());
            memory.fill(0x100000, 0x1000, GARBAGE);
            KernelImageException e = assertThrows(KernelImageException.class, () -> elf.load(memory));
            assertTrue(e.getMessage().contains(NAME), e.getMessage());
            assertTrue(e.getMessage().contains(Long.toHexString(paddr)), "message does not name the address: " + e.getMessage());
            assertAll(memory, 0x100000, 0x1000, GARBAGE);
        }

        @Test
        void bssBeyondRamIsRefusedEvenWhenTheFileBytesFit() {
            ElfImage elf = parse(new ElfBuilder().load(RAM - 0x1000, pattern(16, 2), 0x1001).build());
            assertThrows(KernelImageException.class, () -> elf.load(memory));
        }
    }

    /** A 4 GiB guest: RAM below 3 GiB, the PCI hole, 1 GiB from 4 GiB up. */
    @Nested
    @TestInstance(TestInstance.Lifecycle.PER_CLASS)
    class LoadAroundThePciHole {
        private static final long GiB = 1L << 30;
        private GuestRam bigRam;
        private GuestMemory big;

        @BeforeAll
        void allocateBig() {
            bigRam = GuestRam.allocate(4 * GiB, new RamOptions(null, false, false, false));
            big = GuestMemory.of(bigRam, PcMemoryLayout.forRamSize(4 * GiB));
        }

        @AfterAll
        void freeBig() {
            bigRam.close();
        }

        @Test
        void segmentInHighRamLoads() {
            ElfImage elf = parse(new ElfBuilder().load(4 * GiB + 0x1000, pattern(100, 7), 0x2000).build());
            big.fill(4 * GiB, 0x4000, GARBAGE);
            assertEquals(4 * GiB + 0x3000, elf.load(big));
            assertArrayEquals(pattern(100, 7), read(big, 4 * GiB + 0x1000, 100));
            assertAll(big, 4 * GiB + 0x1000 + 100, 0x2000 - 100, (byte) 0);
            assertAll(big, 4 * GiB, 0x1000, GARBAGE);
        }

        @ParameterizedTest
        @ValueSource(longs = {3 * GiB - 0x1000, 3 * GiB, 0xfee00000L, 4 * GiB - 0x1000, 5 * GiB - 0x1000})
        void segmentInOrAcrossTheHoleOrPastHighRamIsRefused(long paddr) {
            ElfImage elf = parse(new ElfBuilder().load(paddr, pattern(16, 2), 0x2000).build());
            KernelImageException e = assertThrows(KernelImageException.class, () -> elf.load(big));
            assertTrue(e.getMessage().contains(NAME), e.getMessage());
        }
    }

    // --- the real test guest ---

    @Nested
    class TestGuestElf {
        private Path guest() throws IOException, InterruptedException {
            Path root = Path.of(System.getProperty("jkvm.root", "..")).toAbsolutePath().normalize();
            Path elf = root.resolve("guest/build/testguest.elf");
            if (!Files.isRegularFile(elf)) {
                Process p = new ProcessBuilder("make", "-s", "-C", root.resolve("guest").toString()).inheritIO().start();
                assertEquals(0, p.waitFor(), "make -C guest failed");
            }
            assertTrue(Files.isRegularFile(elf), "no test guest at " + elf);
            return elf;
        }

        @Test
        void notesAreFoundAndPointIntoTheTextSegment() throws Exception {
            byte[] bytes = Files.readAllBytes(guest());
            ElfImage elf = ElfImage.parse(MemorySegment.ofArray(bytes), "testguest.elf");
            Map<String, Long> symbols = symbols(bytes);

            assertTrue(elf.jkvmEntry64().isPresent(), "no jkvm note");
            assertTrue(elf.pvhEntry().isPresent(), "no PVH note");
            // The notes name the entry symbols that guest/boot/entry.S declares them for.
            assertEquals(symbols.get("entry64"), elf.jkvmEntry64().getAsLong());
            assertEquals(symbols.get("pvh_entry32"), elf.pvhEntry().getAsLong());
            // linker.ld: ENTRY(entry64).
            assertEquals(elf.jkvmEntry64().getAsLong(), elf.entry());

            LoadSegment text = elf.segments().stream().filter(s -> s.physAddress() == BootLayout.KERNEL_MIN).findFirst()
                    .orElseThrow(() -> new AssertionError("no segment at 1 MiB: " + elf.segments()));
            for (long e : new long[] {elf.jkvmEntry64().getAsLong(), elf.pvhEntry().getAsLong()}) {
                assertTrue(e >= text.physAddress() && e < text.physAddress() + text.fileSize(),
                        String.format("entry 0x%x outside the text segment %s", e, text));
            }
        }

        @Test
        void loadsIntoSixteenMiBAndTheEntryBytesMatchTheFile() throws Exception {
            byte[] bytes = Files.readAllBytes(guest());
            ElfImage elf = ElfImage.parse(MemorySegment.ofArray(bytes), "testguest.elf");
            memory.fill(0, RAM, GARBAGE);
            long top = elf.load(memory);
            for (LoadSegment s : elf.segments()) {
                assertArrayEquals(Arrays.copyOfRange(bytes, (int) s.fileOffset(), (int) (s.fileOffset() + s.fileSize())),
                        read(memory, s.physAddress(), (int) s.fileSize()));
                assertAll(memory, s.physAddress() + s.fileSize(), s.memSize() - s.fileSize(), (byte) 0);
                assertTrue(top >= s.physAddress() + s.memSize());
            }
        }

        /** A minimal .symtab reader: symbol name to value, from the section headers (independent of ElfImage). */
        private Map<String, Long> symbols(byte[] file) {
            ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
            long shoff = b.getLong(40);
            int shentsize = Short.toUnsignedInt(b.getShort(58));
            int shnum = Short.toUnsignedInt(b.getShort(60));
            Map<String, Long> out = new HashMap<>();
            for (int i = 0; i < shnum; i++) {
                int sh = (int) shoff + i * shentsize;
                if (b.getInt(sh + 4) != 2) {   // SHT_SYMTAB
                    continue;
                }
                int off = (int) b.getLong(sh + 24);
                int size = (int) b.getLong(sh + 32);
                int link = b.getInt(sh + 40);
                int strOff = (int) b.getLong((int) shoff + link * shentsize + 24);
                for (int s = off; s + 24 <= off + size; s += 24) {
                    int name = b.getInt(s);
                    int end = strOff + name;
                    while (file[end] != 0) {
                        end++;
                    }
                    out.put(new String(file, strOff + name, end - strOff - name, StandardCharsets.US_ASCII), b.getLong(s + 8));
                }
            }
            assertFalse(out.isEmpty(), "test guest has no symbol table");
            return out;
        }
    }

    @Test
    void segmentListIsImmutable() {
        ElfImage elf = parse(goodImage(null).build());
        assertThrows(UnsupportedOperationException.class, () -> elf.segments().clear());
    }
}
