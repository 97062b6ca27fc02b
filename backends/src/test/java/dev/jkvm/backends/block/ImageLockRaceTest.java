package dev.jkvm.backends.block;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two openers of one image for writing, racing: at most one may win, ever. A lock that first
 * checks for conflicting locks and only then takes its own lets both pass the check before either
 * locks; taking the locks first and then checking (as QEMU's file-posix does) closes that window.
 */
class ImageLockRaceTest {
    private static final int ROUNDS = 20000;

    @Test
    void twoRacingWritersNeverBothOpenTheImage(@TempDir Path dir) throws Exception {
        Path img = dir.resolve("race.img");
        Files.write(img, new byte[4096]);
        CyclicBarrier start = new CyclicBarrier(2);
        CyclicBarrier end = new CyclicBarrier(2);
        RawFileImage[] opened = new RawFileImage[2];
        AtomicInteger both = new AtomicInteger();
        AtomicInteger neither = new AtomicInteger();
        AtomicInteger one = new AtomicInteger();
        AtomicReference<Throwable> error = new AtomicReference<>();
        Runnable[] sides = new Runnable[2];
        for (int s = 0; s < 2; s++) {
            int side = s;
            sides[s] = () -> {
                try {
                    for (int round = 0; round < ROUNDS; round++) {
                        start.await(10, TimeUnit.SECONDS);
                        try {
                            opened[side] = RawFileImage.open(img, false, CacheMode.WRITEBACK, false);
                        } catch (ImageException e) {
                            opened[side] = null;
                        }
                        end.await(10, TimeUnit.SECONDS);
                        if (side == 0) {
                            int n = (opened[0] != null ? 1 : 0) + (opened[1] != null ? 1 : 0);
                            (n == 2 ? both : n == 1 ? one : neither).incrementAndGet();
                        }
                        end.await(10, TimeUnit.SECONDS);
                        if (opened[side] != null) {
                            opened[side].close();
                        }
                    }
                } catch (Throwable t) {
                    error.compareAndSet(null, t);
                    start.reset();
                    end.reset();
                }
            };
        }
        Thread a = Thread.ofPlatform().start(sides[0]);
        Thread b = Thread.ofPlatform().start(sides[1]);
        a.join();
        b.join();
        assertNull(error.get());
        assertEquals(0, both.get(), "rounds in which both writers opened the image (one: " + one + ", neither: " + neither + ")");
        assertTrue(one.get() > 0);
    }
}
