package dev.jkvm.backends.block;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SnapshotImageTest {
    private static final int CLUSTER = (int) SnapshotImage.CLUSTER;
    /** Five and a half clusters: the last one is partial. */
    private static final int SIZE = 5 * CLUSTER + CLUSTER / 2;

    @TempDir
    Path dir;
    private Path base;
    private byte[] original;
    private Arena arena;
    private IoContext io;
    private final List<AutoCloseable> open = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        base = dir.resolve("base.img");
        original = new byte[SIZE];
        new Random(7).nextBytes(original);
        Files.write(base, original);
        Files.setLastModifiedTime(base, FileTime.fromMillis(1_000_000_000_000L));
        arena = Arena.ofConfined();
        io = new IoContext();
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
        io.close();
        arena.close();
    }

    private SnapshotImage snapshot(CacheMode cache, boolean discard) {
        SnapshotImage s = SnapshotImage.open(base, cache, discard);
        open.add(s);
        return s;
    }

    private MemorySegment buffer(int size, int misalign) {
        return arena.allocate(size + misalign + 4096L, 4096).asSlice(misalign, size);
    }

    private byte[] read(BlockImage img, long offset, int length) {
        MemorySegment b = buffer(length, 0);
        assertEquals(0, img.read(offset, new MemorySegment[] {b}, 1, io));
        return b.toArray(ValueLayout.JAVA_BYTE);
    }

    private void write(BlockImage img, long offset, byte[] data) {
        MemorySegment b = buffer(data.length, 0);
        MemorySegment.copy(data, 0, b, ValueLayout.JAVA_BYTE, 0, data.length);
        assertEquals(0, img.write(offset, new MemorySegment[] {b}, 1, io));
    }

    private static byte[] digest(Path p) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p));
    }

    @Test
    void readsTheBaseUntilWritten() {
        SnapshotImage s = snapshot(CacheMode.WRITEBACK, false);
        assertEquals(SIZE, s.size());
        assertFalse(s.readOnly());
        assertArrayEquals(original, read(s, 0, SIZE));
        byte[] data = new byte[1024];
        Arrays.fill(data, (byte) 0x42);
        write(s, 3 * CLUSTER - 512, data);
        byte[] want = original.clone();
        System.arraycopy(data, 0, want, 3 * CLUSTER - 512, 1024);
        assertArrayEquals(want, read(s, 0, SIZE));
    }

    @Test
    void aPartialClusterWriteCopiesTheWholeClusterFirst() throws Exception {
        SnapshotImage s = snapshot(CacheMode.WRITEBACK, false);
        byte[] data = new byte[512];
        Arrays.fill(data, (byte) 0x99);
        write(s, CLUSTER + 4096, data);
        // Change the base file behind the snapshot's back, in the written cluster and in another.
        try (RandomAccessFile raf = new RandomAccessFile(base.toFile(), "rw")) {
            raf.seek(CLUSTER);
            raf.write(new byte[CLUSTER]);
            raf.seek(3 * CLUSTER);
            raf.write(new byte[CLUSTER]);
        }
        // The written cluster was copied whole at the first write: it still shows the old base around the data.
        byte[] want = Arrays.copyOfRange(original, CLUSTER, 2 * CLUSTER);
        System.arraycopy(data, 0, want, 4096, 512);
        assertArrayEquals(want, read(s, CLUSTER, CLUSTER));
        // Untouched clusters still read through to the base.
        assertArrayEquals(new byte[CLUSTER], read(s, 3 * CLUSTER, CLUSTER));
        assertArrayEquals(Arrays.copyOfRange(original, 0, CLUSTER), read(s, 0, CLUSTER));
    }

    @ParameterizedTest
    @EnumSource(value = CacheMode.class, names = {"WRITEBACK", "NONE"})
    void randomUnalignedTrafficMatchesAModelAndNeverTouchesTheBase(CacheMode cache) throws Exception {
        byte[] before = digest(base);
        FileTime mtime = Files.getLastModifiedTime(base);
        SnapshotImage s = snapshot(cache, true);
        byte[] model = original.clone();
        Random random = new Random(11);
        for (int op = 0; op < 300; op++) {
            int kind = random.nextInt(10);
            if (kind < 8) {
                int pieces = 1 + random.nextInt(3);
                int[] sizes = new int[pieces];
                int total = 0;
                for (int i = 0; i < pieces; i++) {
                    sizes[i] = 1 + random.nextInt(op % 10 == 0 ? 3 * CLUSTER : 5000);
                    total += sizes[i];
                }
                if (total > SIZE) {
                    continue;
                }
                long offset = random.nextInt(SIZE - total + 1);
                MemorySegment[] bufs = new MemorySegment[pieces];
                for (int i = 0; i < pieces; i++) {
                    bufs[i] = buffer(sizes[i], random.nextInt(512));
                }
                if (kind < 4) {
                    int at = (int) offset;
                    for (MemorySegment b : bufs) {
                        byte[] d = new byte[(int) b.byteSize()];
                        random.nextBytes(d);
                        MemorySegment.copy(d, 0, b, ValueLayout.JAVA_BYTE, 0, d.length);
                        System.arraycopy(d, 0, model, at, d.length);
                        at += d.length;
                    }
                    assertEquals(0, s.write(offset, bufs, pieces, io));
                } else {
                    assertEquals(0, s.read(offset, bufs, pieces, io));
                    int at = (int) offset;
                    for (MemorySegment b : bufs) {
                        assertArrayEquals(Arrays.copyOfRange(model, at, at + (int) b.byteSize()), b.toArray(ValueLayout.JAVA_BYTE),
                                "read at " + offset);
                        at += (int) b.byteSize();
                    }
                }
            } else {
                long sector = random.nextInt(SIZE / 512);
                long sectors = random.nextInt((int) (SIZE / 512 - sector) + 1);
                int e = kind == 8 ? s.discard(sector * 512, sectors * 512, io) : s.writeZeroes(sector * 512, sectors * 512, false, io);
                assertEquals(0, e);
                Arrays.fill(model, (int) sector * 512, (int) (sector + sectors) * 512, (byte) 0);
            }
        }
        assertArrayEquals(model, read(s, 0, SIZE));
        s.close();
        assertArrayEquals(before, digest(base), "the base image is never written");
        assertEquals(mtime, Files.getLastModifiedTime(base));
    }

    @Test
    void discardZeroesOnlyWhenEnabled() {
        SnapshotImage off = snapshot(CacheMode.WRITEBACK, false);
        assertEquals(0, off.discard(CLUSTER / 2, 2 * CLUSTER, io));
        assertArrayEquals(original, read(off, 0, SIZE));
        assertEquals(0, off.writeZeroes(0, 1024, false, io));
        assertArrayEquals(new byte[1024], read(off, 0, 1024));
        off.close();

        SnapshotImage on = snapshot(CacheMode.WRITEBACK, true);
        assertEquals(0, on.discard(CLUSTER / 2, 2 * CLUSTER, io));
        byte[] want = original.clone();
        Arrays.fill(want, CLUSTER / 2, CLUSTER / 2 + 2 * CLUSTER, (byte) 0);
        assertArrayEquals(want, read(on, 0, SIZE));
        assertEquals(0, on.discard(SIZE - 512, 512, io));
        Arrays.fill(want, SIZE - 512, SIZE, (byte) 0);
        assertArrayEquals(want, read(on, 0, SIZE));
        assertEquals(0, on.discard(0, 0, io));
    }

    @Test
    void flushSucceedsAndNothingIsLeftBehind() throws IOException {
        SnapshotImage s = snapshot(CacheMode.WRITEBACK, false);
        write(s, 0, new byte[512]);
        assertEquals(0, s.flush(io));
        // the overlay is an unlinked file: no path to it remains
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.contains("jkvm-snapshot")) {
                        assertTrue(target.endsWith("(deleted)"), target);
                    }
                } catch (IOException gone) {
                    // closed meanwhile
                }
            }
        }
    }

    @Test
    void theBaseIsOpenedAsAReader() {
        snapshot(CacheMode.WRITEBACK, false);
        snapshot(CacheMode.NONE, false);
        assertThrows(ImageException.class, () -> RawFileImage.open(base, false, CacheMode.WRITEBACK, false));
        for (AutoCloseable c : open) {
            try {
                c.close();
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }
        open.clear();
        RawFileImage writer = RawFileImage.open(base, false, CacheMode.WRITEBACK, false);
        open.add(writer);
        assertThrows(ImageException.class, () -> SnapshotImage.open(base, CacheMode.WRITEBACK, false));
    }

    @Test
    void anEmptyBaseImageGivesAnEmptySnapshot() throws IOException {
        Path empty = dir.resolve("empty.img");
        Files.write(empty, new byte[0]);
        RawFileImage.open(empty, false, CacheMode.WRITEBACK, false).close();
        try (SnapshotImage s = SnapshotImage.open(empty, CacheMode.WRITEBACK, false)) {
            assertEquals(0, s.size());
        }
    }
}
