package dev.jkvm.backends.net;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FrameQueueTest {
    private static MemorySegment frame(Arena arena, int length, int seed) {
        MemorySegment s = arena.allocate(Math.max(length, 1)).asSlice(0, length);
        for (int i = 0; i < length; i++) {
            s.set(JAVA_BYTE, i, (byte) (seed + i));
        }
        return s;
    }

    @Test
    void framesComeOutInOrderWithTheirTags() {
        try (Arena arena = Arena.ofConfined()) {
            FrameQueue q = new FrameQueue(arena, 4096, 8);
            for (int i = 0; i < 5; i++) {
                assertTrue(q.offer(frame(arena, 100 + i, i), i * 10));
            }
            for (int i = 0; i < 5; i++) {
                assertEquals(i * 10, q.peekTag());
                assertArrayEquals(frame(arena, 100 + i, i).toArray(JAVA_BYTE), q.peek().toArray(JAVA_BYTE));
                q.pop();
            }
            assertTrue(q.isEmpty());
            assertNull(q.peek());
        }
    }

    @Test
    void boundedByFrameCountAndBytes() {
        try (Arena arena = Arena.ofConfined()) {
            FrameQueue byCount = new FrameQueue(arena, 4096, 3);
            for (int i = 0; i < 3; i++) {
                assertTrue(byCount.offer(frame(arena, 10, i), 0));
            }
            assertNull(byCount.reserve(1), "three frames is the limit");

            FrameQueue byBytes = new FrameQueue(arena, 1000, 100);
            assertTrue(byBytes.offer(frame(arena, 600, 1), 0));
            assertNull(byBytes.reserve(600), "600 more bytes do not fit in 1000");
            assertNotNull(byBytes.reserve(400));
            assertThrows(IllegalArgumentException.class, () -> byBytes.reserve(1001));
        }
    }

    @Test
    void reserveThenCommitWritesInPlaceAndShorterCommitsKeepOnlyTheirBytes() {
        try (Arena arena = Arena.ofConfined()) {
            FrameQueue q = new FrameQueue(arena, 1 << 16, 16);
            MemorySegment slot = q.reserve(9000);
            slot.set(JAVA_BYTE, 0, (byte) 42);
            q.commit(60, 7);
            assertEquals(60, q.peek().byteSize());
            assertEquals(42, q.peek().get(JAVA_BYTE, 0));
            assertThrows(IllegalStateException.class, () -> q.commit(1, 0), "a commit needs a fresh reserve");
        }
    }

    @Test
    void wrapsAroundTheRingWithoutOverwritingQueuedFrames() {
        // A reference model checks every frame's bytes across many wrap-arounds of a small ring.
        try (Arena arena = Arena.ofConfined()) {
            FrameQueue q = new FrameQueue(arena, 5000, 32);
            ArrayDeque<byte[]> model = new ArrayDeque<>();
            Random random = new Random(1);
            int seq = 0;
            for (int step = 0; step < 20_000; step++) {
                if (random.nextInt(3) != 0) {
                    int length = 1 + random.nextInt(1600);
                    MemorySegment f = frame(arena, length, seq);
                    if (q.offer(f, seq)) {
                        model.add(f.toArray(JAVA_BYTE));
                        seq++;
                    } else {
                        assertTrue(!model.isEmpty(), "an empty queue takes any frame that fits the ring");
                    }
                } else if (!model.isEmpty()) {
                    assertArrayEquals(model.poll(), q.peek().toArray(JAVA_BYTE));
                    q.pop();
                }
                assertEquals(model.size(), q.size());
            }
            assertTrue(seq > 5000, "the ring wrapped many times");
        }
    }
}
