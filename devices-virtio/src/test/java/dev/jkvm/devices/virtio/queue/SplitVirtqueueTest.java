package dev.jkvm.devices.virtio.queue;

import dev.jkvm.devices.virtio.DriverRing;
import dev.jkvm.devices.virtio.TestGuest;
import dev.jkvm.memory.GuestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static dev.jkvm.devices.virtio.DriverRing.r;
import static dev.jkvm.devices.virtio.DriverRing.w;
import static dev.jkvm.devices.virtio.TestGuest.GiB;
import static dev.jkvm.devices.virtio.TestGuest.MiB;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SplitVirtqueueTest {
    private static final int MAX = 256;
    private static final int SIZE = 16;

    private TestGuest guest;
    private GuestMemory mem;
    private SplitVirtqueue queue;
    private DriverRing ring;
    private long data;

    @BeforeEach
    void setUp() throws VirtqueueViolation {
        guest = new TestGuest(16 * MiB);
        mem = guest.mem;
        queue = new SplitVirtqueue(mem, MAX);
        ring = new DriverRing(mem, SIZE, guest.alloc(0x3000, 4096));
        guest.alloc(0x3000, 4096);
        data = guest.alloc(1 * MiB, 4096);
        ring.enable(queue, false);
    }

    @AfterEach
    void tearDown() {
        guest.close();
    }

    private VirtqueueViolation violation() {
        return assertThrows(VirtqueueViolation.class, () -> queue.pop());
    }

    /** Pops, uses and so retires {@code n} one-descriptor chains: moves every index on by n. */
    private void cycle(int n) throws VirtqueueViolation {
        for (int i = 0; i < n; i++) {
            int head = ring.add(r(data, 16));
            DescriptorChain c = queue.pop();
            assertEquals(head, c.head());
            queue.addUsed(c.head(), 0);
        }
    }

    // ---- enable ----

    @Test
    void constructorRefusesMaxSizesThatAreNotPowersOfTwoUpTo32768() {
        assertThrows(IllegalArgumentException.class, () -> new SplitVirtqueue(mem, 0));
        assertThrows(IllegalArgumentException.class, () -> new SplitVirtqueue(mem, 100));
        assertThrows(IllegalArgumentException.class, () -> new SplitVirtqueue(mem, 65536));
        assertEquals(32768, new SplitVirtqueue(mem, 32768).maxSize());
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 3, 6, 255, 2 * MAX, 65536, -1, -256})
    void enableRefusesBadSizes(int size) {
        SplitVirtqueue q = new SplitVirtqueue(mem, MAX);
        assertThrows(VirtqueueViolation.class, () -> q.enable(size, ring.desc, ring.avail, ring.used, false));
        assertFalse(q.isEnabled());
        assertEquals(MAX, q.size());
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 64, MAX})
    void enableTakesPowersOfTwoUpToTheMaximum(int size) throws VirtqueueViolation {
        SplitVirtqueue q = new SplitVirtqueue(mem, MAX);
        long base = guest.alloc(0x4000, 4096);
        q.enable(size, base, base + 16L * size, base + 0x3000, false);
        assertTrue(q.isEnabled());
        assertEquals(size, q.size());
    }

    @Test
    void enableRefusesMisalignedRings() {
        SplitVirtqueue q = new SplitVirtqueue(mem, MAX);
        assertThrows(VirtqueueViolation.class, () -> q.enable(SIZE, ring.desc + 8, ring.avail, ring.used, false));
        assertThrows(VirtqueueViolation.class, () -> q.enable(SIZE, ring.desc, ring.avail + 1, ring.used, false));
        assertThrows(VirtqueueViolation.class, () -> q.enable(SIZE, ring.desc, ring.avail, ring.used + 2, false));
        assertFalse(q.isEnabled());
        // The spec's minimum alignments (16, 2, 4) are enough.
        assertDoesNotThrowViolation(() -> q.enable(SIZE, ring.desc + 16, ring.avail + 2, ring.used + 4, false));
    }

    @Test
    void enableRefusesRingsThatLeaveRam() throws VirtqueueViolation {
        long top = guest.ramSize;
        SplitVirtqueue q = new SplitVirtqueue(mem, MAX);
        // Each ring ending exactly at the top of RAM is fine (the event-index words included) ...
        q.enable(SIZE, top - 16L * SIZE, ring.avail, ring.used, true);
        q.enable(SIZE, ring.desc, top - (6 + 2L * SIZE), ring.used, true);
        q.enable(SIZE, ring.desc, ring.avail, top - (6 + 8L * SIZE) & ~3L, true);
        // ... one aligned step further is not.
        SplitVirtqueue fresh = new SplitVirtqueue(mem, MAX);
        assertThrows(VirtqueueViolation.class, () -> fresh.enable(SIZE, top - 16L * SIZE + 16, ring.avail, ring.used, false));
        assertThrows(VirtqueueViolation.class, () -> fresh.enable(SIZE, ring.desc, top - (6 + 2L * SIZE) + 2, ring.used, false));
        assertThrows(VirtqueueViolation.class, () -> fresh.enable(SIZE, ring.desc, ring.avail, (top - (6 + 8L * SIZE) & ~3L) + 4, false));
        assertThrows(VirtqueueViolation.class, () -> fresh.enable(SIZE, top, ring.avail, ring.used, false));
        assertThrows(VirtqueueViolation.class, () -> fresh.enable(SIZE, -16L * SIZE, ring.avail, ring.used, false));
        assertThrows(VirtqueueViolation.class, () -> fresh.enable(SIZE, Long.MAX_VALUE & ~15L, ring.avail, ring.used, false));
        assertThrows(VirtqueueViolation.class, () -> fresh.enable(SIZE, ring.desc, ring.avail, 0xfffffffffffffff0L, false));
        assertFalse(fresh.isEnabled());
    }

    @Test
    void enableRefusesRingsInTheHoleBelow4GiB() {
        try (TestGuest big = new TestGuest(4 * GiB)) {
            SplitVirtqueue q = new SplitVirtqueue(big.mem, MAX);
            long low = 0x10000;
            assertThrows(VirtqueueViolation.class, () -> q.enable(SIZE, 3 * GiB - 0x80, low, low + 0x1000, false));
            assertThrows(VirtqueueViolation.class, () -> q.enable(SIZE, 3 * GiB + 0x1000, low, low + 0x1000, false));
            assertThrows(VirtqueueViolation.class, () -> q.enable(SIZE, low, low + 0x1000, 4 * GiB - 0x40, false));
            assertDoesNotThrowViolation(() -> q.enable(SIZE, 4 * GiB, 4 * GiB + 0x1000, 4 * GiB + 0x2000, false));
        }
    }

    // ---- pop ----

    @Test
    void popReturnsChainsInOrderWithReadableAndWritableParts() throws VirtqueueViolation {
        int a = ring.add(r(data, 16));
        int b = ring.add(r(data + 0x100, 16), w(data + 0x200, 512), w(data + 0x400, 1));
        int c = ring.add(r(data + 0x1000, 100), r(data + 0x2000, 200), w(data + 0x3000, 300));
        assertTrue(queue.hasAvailable());

        DescriptorChain first = queue.pop();
        assertEquals(a, first.head());
        assertEquals(1, first.segmentCount());
        assertEquals(1, first.readableSegments());
        assertEquals(16, first.readableBytes());
        assertEquals(0, first.writableBytes());

        DescriptorChain second = queue.pop();
        assertEquals(b, second.head());
        assertEquals(3, second.segmentCount());
        assertEquals(1, second.readableSegments());
        assertEquals(16, second.readableBytes());
        assertEquals(513, second.writableBytes());
        assertFalse(second.writable(0));
        assertTrue(second.writable(1));
        assertTrue(second.writable(2));
        assertEquals(data + 0x200, second.address(1));
        assertEquals(512, second.length(1));

        DescriptorChain third = queue.pop();
        assertEquals(c, third.head());
        assertEquals(2, third.readableSegments());
        assertEquals(300, third.readableBytes());
        assertEquals(300, third.writableBytes());
        assertEquals(data + 0x2000, third.address(1));
        assertEquals(200, third.slice(1).byteSize());

        assertFalse(queue.hasAvailable());
        assertNull(queue.pop());
        assertEquals(3, queue.lastAvailIndex());
    }

    @Test
    void popOfADisabledQueueReturnsNothing() {
        SplitVirtqueue q = new SplitVirtqueue(mem, MAX);
        ring.add(r(data, 16));
        assertFalse(q.hasAvailable());
        assertDoesNotThrowViolation(() -> assertNull(q.pop()));
    }

    @Test
    void zeroLengthDescriptorIsAViolationAsInQemu() {
        ring.add(r(data, 16), w(data + 16, 0));
        VirtqueueViolation v = assertThrows(VirtqueueViolation.class, queue::pop);
        assertEquals("descriptor 1 has length 0", v.getMessage());
    }

    @Test
    void indexesWrapAround16Bits() throws VirtqueueViolation {
        cycle(0xfffd);
        assertEquals(0xfffd, queue.lastAvailIndex());
        assertEquals(0xfffd, queue.usedIndex());
        // Across the wrap, with several chains outstanding at once.
        int[] heads = new int[6];
        for (int i = 0; i < heads.length; i++) {
            heads[i] = ring.add(r(data + 64L * i, 16 + i), w(data + 0x8000 + 64L * i, 8));
        }
        assertEquals(3, ring.availIdx());
        for (int i = 0; i < heads.length; i++) {
            DescriptorChain c = queue.pop();
            assertEquals(heads[i], c.head(), "chain " + i);
            assertEquals(16 + i, c.readableBytes());
            queue.addUsed(c.head(), 100 + i);
        }
        assertNull(queue.pop());
        assertEquals(3, queue.lastAvailIndex());
        assertEquals(3, queue.usedIndex());
        assertEquals(3, ring.usedIdx());
        for (int i = 0; i < heads.length; i++) {
            int slot = 0xfffd + i;
            assertEquals(heads[i], ring.usedId(slot & 0xffff), "used element " + i);
            assertEquals(100 + i, ring.usedLen(slot & 0xffff));
        }
    }

    @Test
    void availableIndexMayMoveByTheQueueSizeButNotMore() throws VirtqueueViolation {
        for (int i = 0; i < SIZE; i++) {
            ring.add(r(data, 16));
        }
        for (int i = 0; i < SIZE; i++) {
            assertNotNull(queue.pop());
        }
        assertNull(queue.pop());
        // Seventeen at once, also across the 16-bit wrap of the difference.
        ring.setAvailIdx(ring.availIdx() + SIZE + 1);
        assertTrue(violation().getMessage().contains("moved by 17"));
        ring.setAvailIdx(queue.lastAvailIndex() - 1);
        assertTrue(violation().getMessage().contains("moved by 65535"));
    }

    @ParameterizedTest
    @ValueSource(ints = {SIZE, SIZE + 1, MAX, 0xffff})
    void headIndexOutsideTheQueueIsAViolation(int head) {
        ring.publish(head);
        assertTrue(violation().getMessage().contains("names descriptor " + head));
    }

    @ParameterizedTest
    @ValueSource(ints = {SIZE, 0xffff})
    void nextIndexOutsideTheQueueIsAViolation(int next) {
        ring.writeDesc(0, data, 16, DriverRing.NEXT, next);
        ring.publish(0);
        assertTrue(violation().getMessage().contains("points to " + next));
    }

    @Test
    void aSelfLoopIsAViolation() {
        ring.writeDesc(3, data, 16, DriverRing.NEXT, 3);
        ring.publish(3);
        assertTrue(violation().getMessage().contains("longer than its table"));
    }

    @Test
    void aTwoCycleIsAViolation() {
        ring.writeDesc(0, data, 16, DriverRing.NEXT, 1);
        ring.writeDesc(1, data, 16, DriverRing.NEXT, 0);
        ring.publish(0);
        assertTrue(violation().getMessage().contains("longer than its table"));
    }

    @Test
    void aChainAsLongAsTheQueueIsAllowed() throws VirtqueueViolation {
        DriverRing.Seg[] segs = new DriverRing.Seg[SIZE];
        for (int i = 0; i < SIZE; i++) {
            segs[i] = i < 4 ? r(data + 32L * i, 32) : w(data + 32L * i, 32);
        }
        ring.add(segs);
        DescriptorChain c = queue.pop();
        assertEquals(SIZE, c.segmentCount());
        assertEquals(4, c.readableSegments());
        assertEquals(128, c.readableBytes());
        assertEquals(32L * (SIZE - 4), c.writableBytes());
    }

    @Test
    void aChainLongerThanTheQueueIsAViolation() {
        // All sixteen descriptors, and the last one leads on again: seventeen links.
        for (int i = 0; i < SIZE; i++) {
            ring.writeDesc(i, data + 32L * i, 32, DriverRing.NEXT, (i + 1) % SIZE);
        }
        ring.publish(5);
        assertTrue(violation().getMessage().contains("longer than its table"));
    }

    // ---- indirect tables ----

    @Test
    void anIndirectTableIsFollowed() throws VirtqueueViolation {
        long table = guest.alloc(16 * 4, 16);
        int head = ring.writeIndirect(table, r(data, 16), r(data + 0x100, 48), w(data + 0x200, 512), w(data + 0x400, 1));
        ring.publish(head);
        DescriptorChain c = queue.pop();
        assertEquals(head, c.head());
        assertEquals(4, c.segmentCount());
        assertEquals(2, c.readableSegments());
        assertEquals(64, c.readableBytes());
        assertEquals(513, c.writableBytes());
        assertEquals(data + 0x400, c.address(3));
    }

    @Test
    void anIndirectTableOf1024EntriesIsAllowedAndMayChainThroughAll() throws VirtqueueViolation {
        long table = guest.alloc(16 * 1024, 16);
        DriverRing.Seg[] segs = new DriverRing.Seg[1024];
        for (int i = 0; i < segs.length; i++) {
            segs[i] = w(data + 8L * i, 8);
        }
        ring.publish(ring.writeIndirect(table, segs));
        DescriptorChain c = queue.pop();
        assertEquals(1024, c.segmentCount());
        assertEquals(8192, c.writableBytes());
    }

    @Test
    void aNestedIndirectTableIsAViolation() {
        long inner = guest.alloc(32, 16);
        DriverRing.writeDesc(mem, inner, 0, data, 16, 0, 0);
        long outer = guest.alloc(32, 16);
        DriverRing.writeDesc(mem, outer, 0, data, 16, DriverRing.NEXT, 1);
        DriverRing.writeDesc(mem, outer, 1, inner, 16, DriverRing.INDIRECT, 0);
        ring.writeDesc(0, outer, 32, DriverRing.INDIRECT, 0);
        ring.publish(0);
        assertTrue(violation().getMessage().contains("nested"));
    }

    @Test
    void anIndirectDescriptorWithNextIsAViolation() {
        long table = guest.alloc(16, 16);
        DriverRing.writeDesc(mem, table, 0, data, 16, 0, 0);
        ring.writeDesc(0, table, 16, DriverRing.INDIRECT | DriverRing.NEXT, 1);
        ring.writeDesc(1, data, 16, 0, 0);
        ring.publish(0);
        assertTrue(violation().getMessage().contains("chained"));
    }

    @Test
    void anIndirectDescriptorAfterDirectOnesIsAViolation() {
        long table = guest.alloc(16, 16);
        DriverRing.writeDesc(mem, table, 0, data, 16, DriverRing.WRITE, 0);
        ring.writeDesc(0, data, 16, DriverRing.NEXT, 1);
        ring.writeDesc(1, table, 16, DriverRing.INDIRECT, 0);
        ring.publish(0);
        assertTrue(violation().getMessage().contains("chained"));
    }

    @ParameterizedTest
    @ValueSource(longs = {0, 8, 24, 17, 1025 * 16, 0x80000000L, 0xfffffff0L})
    void indirectTablesOfBadLengthAreViolations(long len) {
        long table = guest.alloc(1025 * 16, 16);
        for (int i = 0; i < 1025; i++) {
            DriverRing.writeDesc(mem, table, i, data, 16, 0, 0);
        }
        ring.writeDesc(0, table, len, DriverRing.INDIRECT, 0);
        ring.publish(0);
        assertTrue(violation().getMessage().contains("bad indirect table"));
    }

    @ParameterizedTest
    @ValueSource(longs = {-32, 0x7fff_ffff_ffff_fff0L, 0x8000_0000_0000_0000L})
    void anIndirectTableOutsideRamIsAViolation(long table) {
        ring.writeDesc(0, table, 32, DriverRing.INDIRECT, 0);
        ring.publish(0);
        assertTrue(violation().getMessage().contains("bad indirect table"));
    }

    @Test
    void anIndirectTableRunningPastTheEndOfRamIsAViolation() {
        ring.writeDesc(0, guest.ramSize - 32, 48, DriverRing.INDIRECT, 0);
        ring.publish(0);
        assertTrue(violation().getMessage().contains("bad indirect table"));
    }

    @Test
    void aNextIndexOutsideTheIndirectTableIsAViolation() {
        long table = guest.alloc(48, 16);
        DriverRing.writeDesc(mem, table, 0, data, 16, DriverRing.NEXT, 1);
        DriverRing.writeDesc(mem, table, 1, data, 16, DriverRing.NEXT, 3);
        DriverRing.writeDesc(mem, table, 2, data, 16, 0, 0);
        ring.writeDesc(0, table, 48, DriverRing.INDIRECT, 0);
        ring.publish(0);
        assertTrue(violation().getMessage().contains("outside a table of 3"));
    }

    @Test
    void aLoopInsideAnIndirectTableIsAViolation() {
        long table = guest.alloc(32, 16);
        DriverRing.writeDesc(mem, table, 0, data, 16, DriverRing.NEXT, 1);
        DriverRing.writeDesc(mem, table, 1, data, 16, DriverRing.NEXT, 0);
        ring.writeDesc(0, table, 32, DriverRing.INDIRECT, 0);
        ring.publish(0);
        assertTrue(violation().getMessage().contains("longer than its table"));
    }

    // ---- buffers ----

    @Test
    void aBufferOutsideRamIsAViolation() {
        ring.add(r(data, 16), w(guest.ramSize - 8, 16));
        assertTrue(violation().getMessage().contains("outside guest RAM"));
    }

    @Test
    void buffersMustNotStraddleTheEndOfRamOrThePciHole() throws VirtqueueViolation {
        try (TestGuest big = new TestGuest(4 * GiB)) {
            // low RAM [0, 3 GiB), high RAM [4 GiB, 5 GiB)
            DriverRing bigRing = new DriverRing(big.mem, SIZE, 0x10000);
            SplitVirtqueue q = new SplitVirtqueue(big.mem, MAX);
            bigRing.enable(q, false);
            long[][] bad = {{3 * GiB - 8, 16}, {3 * GiB, 16}, {4 * GiB - 8, 16}, {5 * GiB - 8, 16}, {5 * GiB, 1},
                {3 * GiB - 4096, 8192}, {0, 0xffffffffL}, {-8, 16}};
            long[][] good = {{3 * GiB - 16, 16}, {4 * GiB, 16}, {5 * GiB - 16, 16}, {4 * GiB, 1 * GiB}, {0, 3 * GiB - 1}};
            for (long[] b : bad) {
                bigRing.add(w(b[0], b[1]));
                VirtqueueViolation v = assertThrows(VirtqueueViolation.class, q::pop, () -> String.format("0x%x+%d", b[0], b[1]));
                assertTrue(v.getMessage().contains("outside guest RAM"));
                q.reset();
                bigRing.setAvailIdx(0);
                bigRing.enable(q, false);
            }
            for (long[] g : good) {
                bigRing.add(r(g[0], g[1]));
                DescriptorChain c = q.pop();
                assertEquals(g[1], c.readableBytes(), () -> String.format("0x%x+%d", g[0], g[1]));
                assertEquals(g[1], c.slice(0).byteSize());
            }
        }
    }

    @Test
    void aReadableBufferAfterAWritableOneIsAViolation() {
        ring.add(r(data, 16), w(data + 16, 16), r(data + 32, 16));
        assertTrue(violation().getMessage().contains("after a device-writable"));
    }

    @Test
    void lengthsAreUnsigned32BitValues() throws VirtqueueViolation {
        // 7 GiB: low RAM [0, 3 GiB), high RAM [4 GiB, 8 GiB), so one buffer can be 4 GiB - 1 bytes long.
        try (TestGuest big = new TestGuest(7 * GiB)) {
            DriverRing bigRing = new DriverRing(big.mem, SIZE, 0x10000);
            SplitVirtqueue q = new SplitVirtqueue(big.mem, MAX);
            bigRing.enable(q, false);

            bigRing.add(r(0x100000, 16), w(4 * GiB, 0xffffffffL));
            DescriptorChain c = q.pop();
            assertEquals(0xffffffffL, c.writableBytes());
            assertEquals(0xffffffffL, c.slice(1).byteSize());

            bigRing.add(r(4 * GiB + 1, 0xffffffffL));
            c = q.pop();
            assertEquals(0xffffffffL, c.readableBytes(), "a readable 4 GiB - 1 byte buffer");

            bigRing.add(r(0x100000, 0x80000000L), r(4 * GiB, 0x80000000L), w(0x200000, 1));
            c = q.pop();
            assertEquals(0x100000000L, c.readableBytes(), "two readable 2 GiB buffers");
            assertEquals(1, c.writableBytes());

            bigRing.add(r(4 * GiB + 2, 0xffffffffL));
            assertThrows(VirtqueueViolation.class, q::pop);
        }
    }

    // ---- used ring and interrupts ----

    @Test
    void addUsedWritesTheElementAndThenPublishesTheIndex() throws VirtqueueViolation {
        int a = ring.add(r(data, 16));
        int b = ring.add(r(data, 16), w(data + 16, 4));
        DescriptorChain ca = queue.pop();
        DescriptorChain cb = queue.pop();
        // Out of order completion is allowed.
        queue.addUsed(cb.head(), 4);
        assertEquals(1, ring.usedIdx());
        assertEquals(b, ring.usedId(0));
        assertEquals(4, ring.usedLen(0));
        queue.addUsed(ca.head(), 0);
        assertEquals(2, ring.usedIdx());
        assertEquals(a, ring.usedId(1));
        assertEquals(0, ring.usedLen(1));
        assertEquals(2, queue.usedIndex());
    }

    @Test
    void withoutEventIdxTheNoInterruptFlagDecides() throws VirtqueueViolation {
        cycle(1);
        assertTrue(queue.needsInterrupt());
        ring.setAvailFlags(SplitVirtqueue.AVAIL_F_NO_INTERRUPT);
        cycle(1);
        assertFalse(queue.needsInterrupt());
        ring.setAvailFlags(0);
        assertTrue(queue.needsInterrupt());
        // used_event means nothing without EVENT_IDX
        ring.setUsedEvent(1000);
        assertTrue(queue.needsInterrupt());
    }

    private void enableWithEventIdx() throws VirtqueueViolation {
        queue.reset();
        ring.setAvailIdx(0);
        ring.enable(queue, true);
    }

    @Test
    void withEventIdxUsedEventDecidesAndTheFlagIsIgnored() throws VirtqueueViolation {
        enableWithEventIdx();
        ring.setAvailFlags(SplitVirtqueue.AVAIL_F_NO_INTERRUPT);
        ring.setUsedEvent(0);
        cycle(1);
        // The first check after enabling always interrupts.
        assertTrue(queue.needsInterrupt());
        // The driver wants an interrupt once element 5 is used (used idx passes 5).
        ring.setUsedEvent(5);
        cycle(3); // used idx 4
        assertFalse(queue.needsInterrupt());
        cycle(1); // 5
        assertFalse(queue.needsInterrupt());
        cycle(1); // 6: element 5 used
        assertTrue(queue.needsInterrupt());
        // Nothing new since the last interrupt: none.
        assertFalse(queue.needsInterrupt());
        // A batch that jumps over used_event interrupts once.
        ring.setUsedEvent(7);
        cycle(4); // 10
        assertTrue(queue.needsInterrupt());
        cycle(1);
        assertFalse(queue.needsInterrupt());
    }

    @Test
    void usedEventComparisonWrapsAround() throws VirtqueueViolation {
        enableWithEventIdx();
        cycle(0xfffe);
        ring.setUsedEvent(0);
        assertTrue(queue.needsInterrupt()); // first check; signalled at 0xfffe
        ring.setUsedEvent(0xffff);
        cycle(4); // used idx 0xfffe -> 0x0002, passing 0xffff
        assertEquals(2, queue.usedIndex());
        assertTrue(queue.needsInterrupt());
        ring.setUsedEvent(0x0005);
        cycle(3); // 5
        assertFalse(queue.needsInterrupt());
        ring.setUsedEvent(0xfffa); // long ago, as vring_need_event sees it: no interrupt
        cycle(1);
        assertFalse(queue.needsInterrupt());
    }

    @Test
    void popPublishesAvailEventWithEventIdx() throws VirtqueueViolation {
        enableWithEventIdx();
        cycle(3);
        assertEquals(3, ring.availEvent());
        cycle(0xffff);
        assertEquals(2, ring.availEvent());
    }

    @Test
    void suppressKicksSetsTheNoNotifyFlagOnlyWithoutEventIdx() throws VirtqueueViolation {
        queue.suppressKicks(true);
        assertEquals(SplitVirtqueue.USED_F_NO_NOTIFY, ring.usedFlags());
        queue.suppressKicks(false);
        assertEquals(0, ring.usedFlags());
        enableWithEventIdx();
        mem.write16(ring.used, 0);
        queue.suppressKicks(true);
        assertEquals(0, ring.usedFlags());
    }

    @Test
    void resetForgetsEverythingAndStopsUsingTheRings() throws VirtqueueViolation {
        long small = guest.alloc(0x3000, 4096);
        SplitVirtqueue q = new SplitVirtqueue(mem, MAX);
        DriverRing r8 = new DriverRing(mem, 8, small);
        r8.enable(q, true);
        for (int i = 0; i < 3; i++) {
            r8.add(r(data, 16));
            q.addUsed(q.pop().head(), 0);
        }
        assertTrue(q.needsInterrupt());
        q.reset();
        assertFalse(q.isEnabled());
        assertEquals(MAX, q.size());
        assertEquals(0, q.lastAvailIndex());
        assertEquals(0, q.usedIndex());
        assertFalse(q.hasAvailable());
        assertNull(q.pop());
        // Nothing reaches the old rings any more.
        byte[] before = new byte[0x3000];
        mem.read(small, before, 0, before.length);
        q.addUsed(0, 123);
        q.suppressKicks(true);
        assertFalse(q.needsInterrupt());
        byte[] after = new byte[0x3000];
        mem.read(small, after, 0, after.length);
        assertArrayEquals(before, after);
        // Enabled again, it starts from index 0 and interrupts on the first check.
        DriverRing again = new DriverRing(mem, 8, small);
        again.enable(q, true);
        int head = again.add(r(data, 16));
        assertEquals(head, q.pop().head());
        q.addUsed(head, 0);
        assertEquals(1, again.usedIdx());
        again.setUsedEvent(100);
        assertTrue(q.needsInterrupt());
    }

    private interface ViolatingRunnable {
        void run() throws VirtqueueViolation;
    }

    private static void assertDoesNotThrowViolation(ViolatingRunnable r) {
        try {
            r.run();
        } catch (VirtqueueViolation v) {
            throw new AssertionError("unexpected violation: " + v.getMessage(), v);
        }
    }
}
