package dev.jkvm.devices.virtio.queue;

import dev.jkvm.devices.virtio.TestGuest;
import dev.jkvm.memory.GuestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static dev.jkvm.devices.virtio.TestGuest.GiB;
import static dev.jkvm.devices.virtio.TestGuest.MiB;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Reads, writes and zeroing over a chain's readable and writable streams: across segment
 * boundaries, exactly up to the end, and refused past it (negative, overflowing, too long).
 */
class DescriptorChainTest {
    private TestGuest guest;
    private GuestMemory mem;
    /** Readable segments of 3, 5 and 7 bytes, then writable ones of 4, 1 and 6 bytes, scattered in RAM. */
    private final long[] addresses = {0x10005, 0x20000, 0x1fff0, 0x30001, 0x40000, 0x3fff0};
    private final int[] lengths = {3, 5, 7, 4, 1, 6};
    private DescriptorChain chain;
    /** What the readable stream holds, as one array. */
    private byte[] readable;

    @BeforeEach
    void setUp() {
        guest = new TestGuest(4 * MiB);
        mem = guest.mem;
        readable = new byte[15];
        int k = 0;
        for (int s = 0; s < 3; s++) {
            for (int i = 0; i < lengths[s]; i++) {
                readable[k] = (byte) (0x40 + k);
                mem.write8(addresses[s] + i, 0x40 + k);
                k++;
            }
        }
        chain = new DescriptorChain(mem, 7, addresses.clone(), lengths.clone(), 6, 3);
    }

    @AfterEach
    void tearDown() {
        guest.close();
    }

    @Test
    void sizesAndSegments() {
        assertEquals(7, chain.head());
        assertEquals(6, chain.segmentCount());
        assertEquals(3, chain.readableSegments());
        assertEquals(15, chain.readableBytes());
        assertEquals(11, chain.writableBytes());
        assertFalse(chain.writable(2));
        assertTrue(chain.writable(3));
        assertEquals(7, chain.slice(2).byteSize());
    }

    @Test
    void readsEveryRangeAcrossSegmentBoundaries() {
        for (int offset = 0; offset <= 15; offset++) {
            for (int length = 0; offset + length <= 15; length++) {
                byte[] dst = new byte[length + 2];
                Arrays.fill(dst, (byte) 0x77);
                assertTrue(chain.read(offset, dst, 1, length), offset + "+" + length);
                byte[] want = new byte[length + 2];
                Arrays.fill(want, (byte) 0x77);
                System.arraycopy(readable, offset, want, 1, length);
                assertArrayEquals(want, dst, offset + "+" + length);
            }
        }
    }

    @Test
    void readsPastTheEndOrWithBadArgumentsAreRefusedAndCopyNothing() {
        long[][] bad = {{0, 16}, {15, 1}, {14, 2}, {16, 0}, {-1, 1}, {-1, 0}, {0, -1}, {5, -3},
            {Long.MAX_VALUE, 1}, {Long.MAX_VALUE, 0}, {Long.MIN_VALUE, 16}, {Long.MAX_VALUE - 1, 2}};
        for (long[] b : bad) {
            byte[] dst = new byte[64];
            assertFalse(chain.read(b[0], dst, 0, (int) b[1]), b[0] + "+" + b[1]);
            assertArrayEquals(new byte[64], dst);
        }
    }

    private byte[] writableBytes() {
        byte[] out = new byte[11];
        int k = 0;
        for (int s = 3; s < 6; s++) {
            for (int i = 0; i < lengths[s]; i++) {
                out[k++] = (byte) mem.read8(addresses[s] + i);
            }
        }
        return out;
    }

    private void fillWritable(int value) {
        for (int s = 3; s < 6; s++) {
            mem.fill(addresses[s], lengths[s], (byte) value);
        }
    }

    @Test
    void writesEveryRangeAcrossSegmentBoundariesAndNothingElse() {
        for (int offset = 0; offset <= 11; offset++) {
            for (int length = 0; offset + length <= 11; length++) {
                fillWritable(0xee);
                byte[] src = new byte[length + 3];
                for (int i = 0; i < src.length; i++) {
                    src[i] = (byte) (i + 1);
                }
                assertTrue(chain.write(offset, src, 2, length));
                byte[] want = new byte[11];
                Arrays.fill(want, (byte) 0xee);
                System.arraycopy(src, 2, want, offset, length);
                assertArrayEquals(want, writableBytes(), offset + "+" + length);
                // the readable part, and the bytes just around each segment, are untouched
                byte[] r = new byte[15];
                assertTrue(chain.read(0, r, 0, 15));
                assertArrayEquals(readable, r);
                assertEquals(0, mem.read8(0x30000));
                assertEquals(0, mem.read8(0x30005));
                assertEquals(0, mem.read8(0x40001));
            }
        }
    }

    @Test
    void writesPastTheEndAreRefusedAndWriteNothing() {
        fillWritable(0xee);
        long[][] bad = {{0, 12}, {11, 1}, {10, 2}, {12, 0}, {-1, 1}, {0, -1}, {Long.MAX_VALUE, 1}, {Long.MAX_VALUE - 5, 11}};
        for (long[] b : bad) {
            assertFalse(chain.write(b[0], new byte[64], 0, (int) b[1]), b[0] + "+" + b[1]);
        }
        byte[] want = new byte[11];
        Arrays.fill(want, (byte) 0xee);
        assertArrayEquals(want, writableBytes());
    }

    @Test
    void zeroesEveryRangeAcrossSegmentBoundaries() {
        for (int offset = 0; offset <= 11; offset++) {
            for (int length = 0; offset + length <= 11; length++) {
                fillWritable(0xee);
                assertTrue(chain.zero(offset, length));
                byte[] want = new byte[11];
                Arrays.fill(want, (byte) 0xee);
                Arrays.fill(want, offset, offset + length, (byte) 0);
                assertArrayEquals(want, writableBytes(), offset + "+" + length);
            }
        }
        fillWritable(0xee);
        long[][] bad = {{0, 12}, {11, 1}, {-1, 1}, {0, -1}, {Long.MAX_VALUE, 1}, {1, Long.MAX_VALUE}, {Long.MAX_VALUE, Long.MAX_VALUE}};
        for (long[] b : bad) {
            assertFalse(chain.zero(b[0], b[1]), b[0] + "+" + b[1]);
        }
        byte[] want = new byte[11];
        Arrays.fill(want, (byte) 0xee);
        assertArrayEquals(want, writableBytes());
    }

    @Test
    void aChainWithoutAWritablePartRefusesWrites() {
        DescriptorChain readOnly = new DescriptorChain(mem, 0, new long[] {0x10000}, new int[] {16}, 1, 1);
        assertEquals(0, readOnly.writableBytes());
        assertTrue(readOnly.write(0, new byte[0], 0, 0));
        assertFalse(readOnly.write(0, new byte[1], 0, 1));
        assertFalse(readOnly.zero(0, 1));
    }

    @Test
    void segmentsOf2GiBAndMoreCountAsUnsigned() {
        // 4 GiB guest: low RAM is [0, 3 GiB), so a readable buffer can be 2.5 GiB.
        try (TestGuest big = new TestGuest(4 * GiB)) {
            long base = 0x1000;
            int len = (int) 0xa0000000L;
            big.mem.write64(base + 0x9ffffff8L, 0x1122334455667788L);
            big.mem.write32(0x400, 0xcafef00d);
            DescriptorChain c = new DescriptorChain(big.mem, 0, new long[] {base, 0x400, base, 0x400},
                    new int[] {len, 4, len, 4}, 4, 2);
            assertEquals(0xa0000004L, c.readableBytes());
            assertEquals(0xa0000004L, c.writableBytes());
            byte[] dst = new byte[12];
            assertTrue(c.read(0x9ffffff8L, dst, 0, 12));
            assertEquals(0x1122334455667788L, java.nio.ByteBuffer.wrap(dst).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(0));
            assertEquals(0xcafef00d, java.nio.ByteBuffer.wrap(dst).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(8));
            assertFalse(c.read(0x9ffffff8L, dst, 0, 13));
            assertTrue(c.write(0xa0000000L, new byte[] {1, 2, 3, 4}, 0, 4));
            assertEquals(0x04030201, big.mem.read32(0x400));
            assertTrue(c.zero(0x9ffffffcL, 8));
            assertEquals(0, big.mem.read32(0x400));
            // the writable stream's segment 2 is the same guest memory as readable segment 0
            assertEquals(0, big.mem.read32(base + 0x9ffffffcL));
            assertEquals(0x55667788, big.mem.read32(base + 0x9ffffff8L));
        }
    }
}
