package dev.jkvm.memory;

import dev.jkvm.os.NativeException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GuestRamTest {
    @Test
    void anonymousRamStartsZeroedAndIsNamedWhereTheKernelCan() throws IOException {
        try (GuestRam ram = GuestRam.allocate(8 << 20, RamOptions.DEFAULT)) {
            assertEquals(0, ram.segment().get(ValueLayout.JAVA_LONG, (8 << 20) - 8));
            ram.segment().set(ValueLayout.JAVA_LONG, 0, 42);
            assertEquals(42, ram.segment().get(ValueLayout.JAVA_LONG, 0));
            String maps = Files.readString(Path.of("/proc/self/maps"));
            String start = Long.toHexString(ram.segment().address());
            boolean shown = maps.lines().anyMatch(l -> l.startsWith(start + "-") && l.contains(GuestRam.ANON_NAME));
            assertEquals(ram.isNamed(), shown, "the mapping carries the name exactly when naming succeeded");
        }
    }

    @Test
    void memPathCreatesAnUnlinkedFileInTheDirectory(@TempDir Path dir) throws IOException {
        try (GuestRam ram = GuestRam.allocate(4 << 20, RamOptions.DEFAULT.withMemPath(dir).withPrealloc(true))) {
            assertTrue(ram.isFileBacked());
            ram.segment().set(ValueLayout.JAVA_INT, 4096, 7);
            assertEquals(7, ram.segment().get(ValueLayout.JAVA_INT, 4096));
            try (var files = Files.list(dir)) {
                assertEquals(0, files.count(), "the backing file is unlinked once mapped");
            }
        }
    }

    @Test
    void preallocFaultsPagesIn() throws IOException {
        try (GuestRam ram = GuestRam.allocate(16 << 20, RamOptions.DEFAULT.withPrealloc(true).withHugePages(false))) {
            long rssKb = rssOfMapping(ram.segment().address());
            assertTrue(rssKb >= 16 * 1024, "prealloc made the whole mapping resident, rss=" + rssKb + " kB");
        }
    }

    @Test
    void missingMemPathIsANamedError() {
        NativeException e = assertThrows(NativeException.class,
                () -> GuestRam.allocate(4 << 20, RamOptions.DEFAULT.withMemPath(Path.of("/nonexistent/dir"))));
        assertTrue(e.getMessage().contains("/nonexistent/dir"), e.getMessage());
    }

    @Test
    void sizeMustBePageMultiple() {
        assertThrows(IllegalArgumentException.class, () -> GuestRam.allocate(4097, RamOptions.DEFAULT));
    }

    static long rssOfMapping(long address) throws IOException {
        String start = Long.toHexString(address);
        boolean in = false;
        for (String line : Files.readAllLines(Path.of("/proc/self/smaps"))) {
            if (line.matches("^[0-9a-f]+-[0-9a-f]+ .*")) {
                in = line.startsWith(start + "-");
            } else if (in && line.startsWith("Rss:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }
}
