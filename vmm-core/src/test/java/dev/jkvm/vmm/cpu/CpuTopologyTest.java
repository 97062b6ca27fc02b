package dev.jkvm.vmm.cpu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * -smp as QEMU 7.2 resolves it for the pc machine (hw/core/machine-smp.c, "prefer cores over
 * sockets since 6.2"); expected values are QEMU's for the same options (0 = not given).
 */
class CpuTopologyTest {

    @ParameterizedTest(name = "-smp cpus={0},sockets={1},cores={2},threads={3},maxcpus={4}")
    @CsvSource({
            // given                  resolved: cpus, sockets, cores, threads, maxcpus
            "0, 0, 0, 0, 0,           1, 1, 1, 1, 1",
            "1, 0, 0, 0, 0,           1, 1, 1, 1, 1",
            "2, 0, 0, 0, 0,           2, 1, 2, 1, 2",      // -smp 2: one socket, two cores
            "8, 0, 0, 0, 0,           8, 1, 8, 1, 8",
            "2, 2, 0, 0, 0,           2, 2, 1, 1, 2",      // -smp 2,sockets=2
            "8, 2, 0, 0, 0,           8, 2, 4, 1, 8",
            "8, 0, 0, 2, 0,           8, 1, 4, 2, 8",      // threads given, cores computed
            "8, 2, 0, 2, 0,           8, 2, 2, 2, 8",
            "4, 0, 2, 0, 0,           4, 2, 2, 1, 4",      // cores given: sockets computed, threads 1
            "8, 0, 2, 2, 0,           8, 2, 2, 2, 8",      // cores and threads given: sockets computed
            "6, 0, 3, 0, 0,           6, 2, 3, 1, 6",
            "4, 2, 2, 0, 0,           4, 2, 2, 1, 4",      // threads computed last
            "8, 2, 2, 0, 0,           8, 2, 2, 2, 8",
            "2, 0, 0, 0, 4,           2, 1, 4, 1, 4",      // maxcpus: topology from maxcpus, cpus start now
            "0, 0, 0, 0, 4,           4, 1, 4, 1, 4",      // maxcpus alone: cpus = maxcpus
            "2, 2, 0, 0, 8,           2, 2, 4, 1, 8",
            "0, 2, 3, 0, 0,           6, 2, 3, 1, 6",      // no cpus: product of what is given
            "0, 2, 2, 2, 0,           8, 2, 2, 2, 8",
            "0, 0, 4, 0, 0,           4, 1, 4, 1, 4",
            "0, 0, 0, 2, 0,           2, 1, 1, 2, 2",
            "3, 1, 3, 1, 3,           3, 1, 3, 1, 3",
    })
    void resolvesAsQemu72(int cpus, int sockets, int cores, int threads, int maxCpus,
                          int eCpus, int eSockets, int eCores, int eThreads, int eMax) {
        CpuTopology t = CpuTopology.resolve(cpus, sockets, cores, threads, maxCpus);
        assertEquals(new CpuTopology(eCpus, eSockets, eCores, eThreads, eMax), t);
    }

    @ParameterizedTest(name = "-smp cpus={0},sockets={1},cores={2},threads={3},maxcpus={4} is invalid")
    @CsvSource({
            "3, 2, 0, 0, 0,  product",         // cores = 3/2 = 1: 2 != 3
            "2, 4, 0, 0, 0,  product",         // more sockets than CPUs
            "4, 2, 3, 0, 0,  product",         // 2*3 != 4
            "8, 2, 2, 1, 0,  product",
            "6, 0, 4, 0, 0,  product",         // sockets = 6/4 = 1
            "4, 0, 0, 0, 2,  maxcpus",         // maxcpus < cpus
            "4, 1, 1, 1, 0,  product",
            "0, 2, 2, 2, 4,  product",
            "5, 0, 0, 2, 0,  product",         // cores = 5/2 = 2: 4 != 5
    })
    void invalidTopologiesAreRefusedWithQemusMessage(int cpus, int sockets, int cores, int threads, int maxCpus, String kind) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CpuTopology.resolve(cpus, sockets, cores, threads, maxCpus));
        String m = e.getMessage();
        assertTrue(m.startsWith("Invalid CPU topology"), m);
        if (kind.equals("product")) {
            assertTrue(m.contains("product of the hierarchy must match maxcpus"), m);
        } else {
            assertTrue(m.contains("maxcpus must be equal to or greater than smp"), m);
        }
    }

    @Test
    void negativeValuesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> CpuTopology.resolve(-1, 0, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> CpuTopology.resolve(2, -1, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> CpuTopology.resolve(2, 0, -2, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> CpuTopology.resolve(2, 0, 0, -1, 0));
        assertThrows(IllegalArgumentException.class, () -> CpuTopology.resolve(2, 0, 0, 0, Integer.MIN_VALUE));
    }

    @Test
    void constructorChecksItsInvariants() {
        assertThrows(IllegalArgumentException.class, () -> new CpuTopology(0, 1, 1, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new CpuTopology(1, 0, 1, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> new CpuTopology(2, 1, 2, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new CpuTopology(2, 1, 3, 1, 2));
        assertEquals(CpuTopology.single(), new CpuTopology(1, 1, 1, 1, 1));
    }

    /** Products that overflow an int are refused with a typed exception whose message shows no wrapped value. */
    @ParameterizedTest(name = "-smp cpus={0},sockets={1},cores={2},threads={3}")
    @CsvSource({
            "0, 4096, 4096, 256",     // 2^32: wraps to 0
            "0, 4096, 4096, 4096",    // 2^36: wraps to 0
            "0, 2048, 2048, 1025",    // wraps to 4194304
            "0, 65537, 65537, 1",     // wraps to 131073
            "2, 65536, 0, 65536",     // sockets * threads wraps to 0: would divide by zero
            "2, 0, 65536, 65536",     // cores * threads wraps to 0
            "2, 65536, 65536, 0",     // sockets * cores wraps to 0
    })
    void hugeProductsAreRefusedNotWrapped(int cpus, int sockets, int cores, int threads) {
        long product = (long) Math.max(sockets, 1) * Math.max(cores, 1) * Math.max(threads, 1);
        IllegalArgumentException e;
        try {
            CpuTopology t = CpuTopology.resolve(cpus, sockets, cores, threads, 0);
            fail("accepted " + t);
            return;
        } catch (IllegalArgumentException x) {
            e = x;
        } catch (RuntimeException x) {
            throw new AssertionError("expected IllegalArgumentException, got " + x, x);
        }
        String m = e.getMessage();
        assertTrue(m.startsWith("Invalid CPU topology"), m);
        assertTrue(!m.contains("(" + (int) product + ")") && !m.contains("(-"), "message shows a wrapped value: " + m);
    }

    @Test
    void aLargeButRepresentableCountIsNotAnOverflow() {
        CpuTopology t = CpuTopology.resolve(Integer.MAX_VALUE, 0, 0, 0, 0);
        assertEquals(new CpuTopology(Integer.MAX_VALUE, 1, Integer.MAX_VALUE, 1, Integer.MAX_VALUE), t);
    }

    // --- APIC IDs: thread, core and socket packed into fields as wide as their counts need. ---

    @Test
    void threeCoreSocketsLeaveAGap() {
        CpuTopology t = CpuTopology.resolve(6, 2, 3, 1, 0);
        assertArrayEquals(new int[] {0, 1, 2, 4, 5, 6}, t.apicIds());
    }

    @Test
    void twoByTwoByTwoIsDense() {
        CpuTopology t = CpuTopology.resolve(8, 2, 2, 2, 0);
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6, 7}, t.apicIds());
        assertEquals(1, t.threadBits());
        assertEquals(1, t.coreBits());
    }

    @Test
    void apicIdsForOddShapes() {
        // 1 socket x 3 cores x 2 threads: thread bit 0, core bits 2:1.
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5}, CpuTopology.resolve(6, 1, 3, 2, 0).apicIds());
        // 2 sockets x 3 cores x 2 threads: socket 1 starts at 1 << 3.
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13}, CpuTopology.resolve(12, 2, 3, 2, 0).apicIds());
        // 2 sockets x 1 core x 3 threads: two thread bits.
        assertArrayEquals(new int[] {0, 1, 2, 4, 5, 6}, CpuTopology.resolve(6, 2, 1, 3, 0).apicIds());
        // 2 sockets x 5 cores: three core bits.
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 8, 9, 10, 11, 12}, CpuTopology.resolve(10, 2, 5, 1, 0).apicIds());
        // 3 sockets x 2 cores x 3 threads: 2 thread bits, 1 core bit.
        assertArrayEquals(new int[] {0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 16, 17, 18, 20, 21, 22},
                CpuTopology.resolve(18, 3, 2, 3, 0).apicIds());
    }

    @Test
    void onlyTheCpusThatStartNowGetIds() {
        CpuTopology t = CpuTopology.resolve(3, 2, 3, 1, 6);
        assertArrayEquals(new int[] {0, 1, 2}, t.apicIds());
        assertEquals(4, t.apicId(3), "the first hot-pluggable CPU is socket 1, core 0");
    }

    @Test
    void apicIdsAreUniqueAndDecodeBackToTheirPlace() {
        for (int s = 1; s <= 4; s++) {
            for (int c = 1; c <= 6; c++) {
                for (int th = 1; th <= 4; th++) {
                    CpuTopology t = CpuTopology.resolve(0, s, c, th, 0);
                    Set<Integer> seen = new HashSet<>();
                    for (int i = 0; i < t.cpus(); i++) {
                        int id = t.apicId(i);
                        assertTrue(seen.add(id), "duplicate APIC ID " + id + " in " + t);
                        // Decode as Linux does from CPUID 0xB shifts.
                        int threadShift = 32 - Integer.numberOfLeadingZeros(th - 1);
                        int coreShift = threadShift + (32 - Integer.numberOfLeadingZeros(c - 1));
                        assertEquals(i % th, id & ((1 << threadShift) - 1), t + " cpu " + i + " thread");
                        assertEquals((i / th) % c, (id >>> threadShift) & ((1 << (coreShift - threadShift)) - 1), t + " cpu " + i + " core");
                        assertEquals(i / (th * c), id >>> coreShift, t + " cpu " + i + " socket");
                    }
                    assertEquals(c * th, t.logicalPerSocket());
                }
            }
        }
    }

    @Test
    void bitWidths() {
        int[][] countBits = {{1, 0}, {2, 1}, {3, 2}, {4, 2}, {5, 3}, {8, 3}, {9, 4}, {16, 4}, {17, 5}, {255, 8}, {256, 8}, {257, 9}};
        for (int[] cb : countBits) {
            CpuTopology cores = new CpuTopology(1, 1, cb[0], 1, cb[0]);
            CpuTopology threads = new CpuTopology(1, 1, 1, cb[0], cb[0]);
            assertEquals(cb[1], cores.coreBits(), cb[0] + " cores");
            assertEquals(cb[1], threads.threadBits(), cb[0] + " threads");
        }
    }
}
