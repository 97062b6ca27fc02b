package dev.jkvm.backends.block;

import dev.jkvm.os.Errno;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RawFileImageTest {
    private static final int SIZE = 4 << 20;

    @TempDir
    Path dir;
    private Path file;
    private byte[] model;
    private Arena arena;
    private IoContext io;
    private final List<RawFileImage> open = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        file = dir.resolve("disk.img");
        model = new byte[SIZE];
        new Random(42).nextBytes(model);
        Files.write(file, model);
        arena = Arena.ofConfined();
        io = new IoContext();
    }

    @AfterEach
    void tearDown() {
        open.forEach(RawFileImage::close);
        io.close();
        arena.close();
    }

    private RawFileImage image(boolean readOnly, CacheMode cache, boolean discard) {
        RawFileImage img = RawFileImage.open(file, readOnly, cache, discard);
        open.add(img);
        return img;
    }

    private RawFileImage image(CacheMode cache) {
        return image(false, cache, false);
    }

    /** Native buffers of the given sizes, each starting {@code misalign} bytes past a page boundary. */
    private MemorySegment[] buffers(int misalign, int... sizes) {
        MemorySegment[] out = new MemorySegment[sizes.length];
        for (int i = 0; i < sizes.length; i++) {
            out[i] = arena.allocate(sizes[i] + misalign + 4096L, 4096).asSlice(misalign, sizes[i]);
        }
        return out;
    }

    private static byte[] concat(MemorySegment[] buffers) {
        int total = 0;
        for (MemorySegment b : buffers) {
            total += (int) b.byteSize();
        }
        byte[] out = new byte[total];
        int at = 0;
        for (MemorySegment b : buffers) {
            MemorySegment.copy(b, ValueLayout.JAVA_BYTE, 0, out, at, (int) b.byteSize());
            at += (int) b.byteSize();
        }
        return out;
    }

    private static void fill(MemorySegment[] buffers, Random random, byte[] into) {
        int at = 0;
        for (MemorySegment b : buffers) {
            byte[] bytes = new byte[(int) b.byteSize()];
            random.nextBytes(bytes);
            MemorySegment.copy(bytes, 0, b, ValueLayout.JAVA_BYTE, 0, bytes.length);
            System.arraycopy(bytes, 0, into, at, bytes.length);
            at += bytes.length;
        }
    }

    private byte[] fileBytes() throws IOException {
        return Files.readAllBytes(file);
    }

    // ---- opening ----

    @Test
    void opensAndReportsItsSize() {
        RawFileImage img = image(CacheMode.WRITEBACK);
        assertEquals(SIZE, img.size());
        assertFalse(img.readOnly());
    }

    @Test
    void refusesWhatIsNotAUsableImage() throws IOException {
        ImageException missing = assertThrows(ImageException.class,
                () -> RawFileImage.open(dir.resolve("nope.img"), false, CacheMode.WRITEBACK, false));
        assertTrue(missing.getMessage().contains("No such file"), missing.getMessage());
        ImageException directory = assertThrows(ImageException.class, () -> RawFileImage.open(dir, true, CacheMode.WRITEBACK, false));
        assertTrue(directory.getMessage().contains("directory"), directory.getMessage());
        for (int size : new int[] {1, 511, 513, 1000, 4097}) {
            Path odd = dir.resolve("odd" + size + ".img");
            Files.write(odd, new byte[size]);
            ImageException e = assertThrows(ImageException.class, () -> RawFileImage.open(odd, false, CacheMode.WRITEBACK, false));
            assertTrue(e.getMessage().contains("not a multiple of 512"), e.getMessage());
        }
        Path empty = dir.resolve("empty.img");
        Files.write(empty, new byte[0]);
        try (RawFileImage img = RawFileImage.open(empty, false, CacheMode.WRITEBACK, false)) {
            assertEquals(0, img.size());
        }
    }

    // ---- reads and writes ----

    @ParameterizedTest
    @EnumSource(CacheMode.class)
    void vectoredWriteAndReadAtAnOffset(CacheMode cache) throws IOException {
        RawFileImage img = image(cache);
        Random random = new Random(1);
        MemorySegment[] out = buffers(0, 512, 1024, 4096, 512);
        byte[] written = new byte[6144];
        fill(out, random, written);
        assertEquals(0, img.write(8192, out, out.length, io));
        System.arraycopy(written, 0, model, 8192, written.length);
        assertArrayEquals(model, fileBytes());
        // read back across the write's edges with a different split
        MemorySegment[] in = buffers(0, 1536, 512, 5120);
        assertEquals(0, img.read(8192 - 512, in, in.length, io));
        assertArrayEquals(Arrays.copyOfRange(model, 8192 - 512, 8192 - 512 + 7168), concat(in));
        // only the first count buffers take part
        MemorySegment[] partial = buffers(0, 512, 512);
        partial[1].fill((byte) 0x5a);
        assertEquals(0, img.read(0, partial, 1, io));
        assertArrayEquals(Arrays.copyOfRange(model, 0, 512), concat(new MemorySegment[] {partial[0]}));
        assertEquals(0x5a, partial[1].get(ValueLayout.JAVA_BYTE, 0));
        assertEquals(0, img.read(0, new MemorySegment[0], 0, io));
    }

    @Test
    void moreBuffersThanOneSystemCallTakes() throws IOException {
        RawFileImage img = image(CacheMode.WRITEBACK);
        int n = IoContext.MAX_IOVECS * 2 + 100;
        int[] sizes = new int[n];
        Arrays.fill(sizes, 512);
        MemorySegment[] out = buffers(0, sizes);
        byte[] written = new byte[512 * n];
        fill(out, new Random(2), written);
        assertEquals(0, img.write(512, out, n, io));
        System.arraycopy(written, 0, model, 512, written.length);
        assertArrayEquals(model, fileBytes());
        MemorySegment[] in = buffers(0, sizes);
        assertEquals(0, img.read(512, in, n, io));
        assertArrayEquals(written, concat(in));
    }

    /** The open file description of {@code file} in this process has O_DIRECT set. */
    private boolean openedDirect() throws IOException {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    if (Files.readSymbolicLink(fd).equals(file.toRealPath())) {
                        String info = Files.readString(Path.of("/proc/self/fdinfo/" + fd.getFileName()));
                        for (String line : info.split("\n")) {
                            if (line.startsWith("flags:")) {
                                return (Long.parseLong(line.substring(6).trim(), 8) & 040000) != 0;
                            }
                        }
                    }
                } catch (IOException gone) {
                    // an fd closed while we looked
                }
            }
        }
        throw new AssertionError("image fd not found");
    }

    @Test
    void cacheNoneBouncesUnalignedBuffersAndOffsetsByteExactly() throws IOException {
        RawFileImage img = image(CacheMode.NONE);
        assertTrue(openedDirect(), "cache=none opens with O_DIRECT");
        Random random = new Random(3);
        for (int op = 0; op < 400; op++) {
            boolean write = random.nextBoolean();
            int pieces = 1 + random.nextInt(4);
            int[] sizes = new int[pieces];
            boolean big = op % 25 == 0;
            int total = 0;
            for (int i = 0; i < pieces; i++) {
                sizes[i] = 1 + random.nextInt(big ? 900_000 : 3000);
                total += sizes[i];
            }
            // aligned now and then, so the direct path without the bounce buffer is covered too
            boolean aligned = op % 7 == 0;
            if (aligned) {
                for (int i = 0; i < pieces; i++) {
                    sizes[i] = (sizes[i] + 511) & ~511;
                }
                total = Arrays.stream(sizes).sum();
            }
            long offset = aligned ? 512L * random.nextInt((SIZE - total) / 512 + 1) : random.nextInt(SIZE - total + 1);
            MemorySegment[] bufs = buffers(aligned ? 0 : 1 + random.nextInt(511), sizes);
            String what = (write ? "write" : "read") + " of " + Arrays.toString(sizes) + " at " + offset;
            if (write) {
                byte[] data = new byte[total];
                fill(bufs, random, data);
                assertEquals(0, img.write(offset, bufs, pieces, io), what);
                System.arraycopy(data, 0, model, (int) offset, total);
            } else {
                for (MemorySegment b : bufs) {
                    b.fill((byte) 0xee);
                }
                assertEquals(0, img.read(offset, bufs, pieces, io), what);
                assertArrayEquals(Arrays.copyOfRange(model, (int) offset, (int) offset + total), concat(bufs), what);
            }
        }
        assertArrayEquals(model, fileBytes());
    }

    @Test
    void writeThroughAWritebackAndACacheNoneImageAgree() throws IOException {
        RawFileImage direct = image(CacheMode.NONE);
        MemorySegment[] odd = buffers(3, 1000);
        byte[] data = new byte[1000];
        fill(odd, new Random(4), data);
        assertEquals(0, direct.write(12345, odd, 1, io));
        direct.close();
        RawFileImage cached = image(CacheMode.WRITEBACK);
        MemorySegment[] back = buffers(0, 1000);
        assertEquals(0, cached.read(12345, back, 1, io));
        assertArrayEquals(data, concat(back));
    }

    @ParameterizedTest
    @EnumSource(CacheMode.class)
    void flushSucceeds(CacheMode cache) {
        RawFileImage img = image(cache);
        MemorySegment[] b = buffers(0, 512);
        assertEquals(0, img.write(0, b, 1, io));
        assertEquals(0, img.flush(io));
        img.close();
        assertEquals(0, image(true, cache, false).flush(io));
    }

    // ---- discard and write zeroes ----

    private long allocatedBlocks() throws IOException, InterruptedException {
        Process p = new ProcessBuilder("stat", "-c", "%b", file.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes()).trim();
        assertEquals(0, p.waitFor(), out);
        return Long.parseLong(out);
    }

    @Test
    void discardPunchesAHoleWhenEnabled() throws Exception {
        RawFileImage img = image(false, CacheMode.WRITEBACK, true);
        long before = allocatedBlocks();
        assertEquals(0, img.discard(1 << 20, 1 << 20, io));
        Arrays.fill(model, 1 << 20, 2 << 20, (byte) 0);
        assertArrayEquals(model, fileBytes());
        assertEquals(SIZE, Files.size(file), "the file keeps its size");
        assertTrue(allocatedBlocks() <= before - 2048 + 8, "1 MiB deallocated: " + before + " -> " + allocatedBlocks());
        // a range of nothing is nothing to do
        assertEquals(0, img.discard(4096, 0, io));
    }

    @Test
    void discardIsANoOpWhenDisabled() throws Exception {
        RawFileImage img = image(false, CacheMode.WRITEBACK, false);
        long before = allocatedBlocks();
        assertEquals(0, img.discard(1 << 20, 1 << 20, io));
        assertArrayEquals(model, fileBytes());
        assertEquals(before, allocatedBlocks());
        assertEquals(0, img.discard(4096, 0, io));
    }

    @ParameterizedTest
    @EnumSource(value = CacheMode.class, names = {"WRITEBACK", "NONE"})
    void writeZeroesZeroesWithOrWithoutUnmap(CacheMode cache) throws Exception {
        for (boolean discard : new boolean[] {false, true}) {
            RawFileImage img = image(false, cache, discard);
            assertEquals(0, img.writeZeroes(512, 3 * 512, false, io));
            Arrays.fill(model, 512, 2048, (byte) 0);
            assertEquals(0, img.writeZeroes(3 << 20, 1 << 20, true, io));
            Arrays.fill(model, 3 << 20, 4 << 20, (byte) 0);
            assertEquals(0, img.writeZeroes(8192, 0, true, io));
            assertArrayEquals(model, fileBytes(), "discard=" + discard);
            img.close();
            Files.write(file, model);
        }
    }

    // ---- read-only ----

    @Test
    void aReadOnlyImageRefusesEveryChange() throws IOException {
        RawFileImage img = image(true, CacheMode.WRITEBACK, true);
        assertTrue(img.readOnly());
        MemorySegment[] b = buffers(0, 512);
        b[0].fill((byte) 1);
        assertEquals(Errno.EROFS, img.write(0, b, 1, io));
        assertEquals(Errno.EROFS, img.discard(0, 512, io));
        assertEquals(Errno.EROFS, img.writeZeroes(0, 512, false, io));
        assertEquals(0, img.read(0, b, 1, io));
        assertArrayEquals(Arrays.copyOfRange(model, 0, 512), concat(b));
        assertArrayEquals(model, fileBytes());
    }

    // ---- locking ----

    @Test
    void twoWritersConflict() {
        image(CacheMode.WRITEBACK);
        ImageException e = assertThrows(ImageException.class, () -> image(CacheMode.WRITEBACK));
        assertTrue(e.getMessage().contains("lock") && e.getMessage().contains(file.toString()), e.getMessage());
    }

    @Test
    void aWriterAndAReaderConflictEitherWay() {
        RawFileImage writer = image(CacheMode.WRITEBACK);
        assertThrows(ImageException.class, () -> image(true, CacheMode.WRITEBACK, false));
        writer.close();
        image(true, CacheMode.NONE, false);
        assertThrows(ImageException.class, () -> image(CacheMode.WRITEBACK));
    }

    @Test
    void readersShareAndClosingReleases() {
        RawFileImage r1 = image(true, CacheMode.WRITEBACK, false);
        RawFileImage r2 = image(true, CacheMode.NONE, false);
        assertThrows(ImageException.class, () -> image(CacheMode.WRITEBACK));
        r1.close();
        assertThrows(ImageException.class, () -> image(CacheMode.WRITEBACK));
        r2.close();
        RawFileImage writer = image(CacheMode.WRITEBACK);
        writer.close();
        writer.close();
        image(CacheMode.WRITEBACK);
    }
}
