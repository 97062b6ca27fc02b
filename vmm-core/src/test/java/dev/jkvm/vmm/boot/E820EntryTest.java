package dev.jkvm.vmm.boot;

import dev.jkvm.memory.PcMemoryLayout;
import dev.jkvm.vmm.Vm;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class E820EntryTest {
    private static final long KiB = 1L << 10;
    private static final long MiB = 1L << 20;
    private static final long GiB = 1L << 30;

    /** A half-open range [start, end). */
    record Range(long start, long end) {
        boolean overlaps(Range o) {
            return start < o.end && o.start < end;
        }

        boolean contains(Range o) {
            return start <= o.start && o.end <= end;
        }
    }

    /** Every layout size in the brief, plus edges; each with the PVH (no page tables) and the long-mode boot data. */
    static Stream<Arguments> layouts() {
        List<Arguments> out = new ArrayList<>();
        for (long ram : new long[] {MiB, 2 * MiB, 16 * MiB, 64 * MiB, 3 * GiB, 3 * GiB + 4 * KiB, 4 * GiB, 8 * GiB, 200 * GiB}) {
            PcMemoryLayout layout = PcMemoryLayout.forRamSize(ram);
            out.add(Arguments.of(layout, 0));
            out.add(Arguments.of(layout, X86BootCpu.pageDirectories(layout.topOfRam())));
        }
        return out.stream();
    }

    private static Range range(E820Entry e) {
        return new Range(e.address(), e.address() + e.size());
    }

    /** {@code from} minus every range in {@code minus}. */
    private static List<Range> subtract(List<Range> from, List<Range> minus) {
        List<Range> cur = new ArrayList<>(from);
        for (Range m : minus) {
            List<Range> next = new ArrayList<>();
            for (Range r : cur) {
                if (!r.overlaps(m)) {
                    next.add(r);
                    continue;
                }
                if (r.start < m.start) {
                    next.add(new Range(r.start, m.start));
                }
                if (m.end < r.end) {
                    next.add(new Range(m.end, r.end));
                }
            }
            cur = next;
        }
        return cur;
    }

    private static List<Range> ofType(List<E820Entry> map, int type) {
        return map.stream().filter(e -> e.type() == type).map(E820EntryTest::range).toList();
    }

    @ParameterizedTest
    @MethodSource("layouts")
    void mapIsSortedAndNonOverlapping(PcMemoryLayout layout, int pageDirectories) {
        List<E820Entry> map = E820Entry.forLayout(layout, BootLayout.bootDataEnd(pageDirectories));
        long prevEnd = 0;
        for (E820Entry e : map) {
            assertTrue(e.size() > 0, "empty entry " + e);
            assertTrue(e.address() >= prevEnd, "entry " + e + " starts below the end of the previous one, 0x" + Long.toHexString(prevEnd));
            assertTrue(e.type() >= E820Entry.RAM && e.type() <= E820Entry.NVS, "type " + e.type());
            assertEquals(e.address() + e.size(), e.end());
            prevEnd = e.end();
        }
    }

    @ParameterizedTest
    @MethodSource("layouts")
    void everyRamByteIsUsableRamOrInsideTheReservedBootDataOrLegacyArea(PcMemoryLayout layout, int pageDirectories) {
        long bootDataEnd = BootLayout.bootDataEnd(pageDirectories);
        List<E820Entry> map = E820Entry.forLayout(layout, bootDataEnd);
        List<Range> layoutRam = layout.ramRanges().stream().map(r -> new Range(r.guestAddress(), r.guestAddress() + r.size())).toList();
        Range bootData = new Range(BootLayout.BOOT_DATA_START, bootDataEnd);
        Range legacy = new Range(PcMemoryLayout.LEGACY_HOLE_START, PcMemoryLayout.LEGACY_HOLE_END);

        List<Range> notReported = subtract(subtract(subtract(layoutRam, ofType(map, E820Entry.RAM)), List.of(bootData)), List.of(legacy));
        assertTrue(notReported.isEmpty(), "guest RAM not in the map: " + notReported);

        for (Range r : ofType(map, E820Entry.RAM)) {
            assertTrue(layoutRam.stream().anyMatch(l -> l.contains(r)), "RAM entry " + r + " is not backed by one RAM range");
            assertFalse(r.overlaps(bootData), "RAM entry " + r + " overlaps jkvm's boot data " + bootData);
            assertFalse(r.overlaps(legacy), "RAM entry " + r + " overlaps the EBDA/VGA/BIOS area");
            assertFalse(r.overlaps(new Range(PcMemoryLayout.PCI_HOLE_START, PcMemoryLayout.PCI_HOLE_END)), "RAM entry " + r + " in the PCI hole");
        }
    }

    @ParameterizedTest
    @MethodSource("layouts")
    void totalRamIsLayoutRamLessTheReservedLowAreas(PcMemoryLayout layout, int pageDirectories) {
        long bootDataEnd = BootLayout.bootDataEnd(pageDirectories);
        List<E820Entry> map = E820Entry.forLayout(layout, bootDataEnd);
        long reported = map.stream().filter(e -> e.type() == E820Entry.RAM).mapToLong(E820Entry::size).sum();
        long bootData = bootDataEnd - BootLayout.BOOT_DATA_START;
        long legacy = PcMemoryLayout.LEGACY_HOLE_END - PcMemoryLayout.LEGACY_HOLE_START;
        assertEquals(layout.ramSize() - bootData - legacy, reported);
    }

    @ParameterizedTest
    @MethodSource("layouts")
    void jkvmsBootStructuresAndKvmsPagesAreReserved(PcMemoryLayout layout, int pageDirectories) {
        List<E820Entry> map = E820Entry.forLayout(layout, BootLayout.bootDataEnd(pageDirectories));
        List<Range> reserved = ofType(map, E820Entry.RESERVED);
        List<Range> mustBeReserved = new ArrayList<>(List.of(
                new Range(BootLayout.GDT, BootLayout.GDT + 0x1000),
                new Range(BootLayout.START_INFO, BootLayout.START_INFO_END),
                new Range(BootLayout.CMDLINE, BootLayout.CMDLINE + 0x1000),
                new Range(BootLayout.BIOS_START, BootLayout.BIOS_END),
                // KVM_SET_IDENTITY_MAP_ADDR takes one page, KVM_SET_TSS_ADDR three.
                new Range(Vm.IDENTITY_MAP_ADDRESS, Vm.IDENTITY_MAP_ADDRESS + 0x1000),
                new Range(Vm.TSS_ADDRESS, Vm.TSS_ADDRESS + 0x3000)));
        if (pageDirectories > 0) {
            mustBeReserved.add(new Range(BootLayout.PML4, BootLayout.PML4 + 0x1000));
            mustBeReserved.add(new Range(BootLayout.PDPT, BootLayout.PDPT + 0x1000));
            mustBeReserved.add(new Range(BootLayout.PD_FIRST, BootLayout.PD_FIRST + pageDirectories * 0x1000L));
        }
        List<Range> uncovered = subtract(mustBeReserved, reserved);
        assertTrue(uncovered.isEmpty(), "not reserved: " + uncovered + " in " + map);
    }

    @ParameterizedTest
    @MethodSource("layouts")
    void highRamIsReportedFromFourGiB(PcMemoryLayout layout, int pageDirectories) {
        List<E820Entry> map = E820Entry.forLayout(layout, BootLayout.bootDataEnd(pageDirectories));
        List<Range> above4g = ofType(map, E820Entry.RAM).stream().filter(r -> r.start >= PcMemoryLayout.PCI_HOLE_END).toList();
        if (layout.ramSize() <= 3 * GiB) {
            assertTrue(above4g.isEmpty(), "RAM above 4 GiB in a " + layout.ramSize() + "-byte guest: " + above4g);
        } else {
            assertEquals(List.of(new Range(4 * GiB, 4 * GiB + layout.ramSize() - 3 * GiB)), above4g);
        }
        long topOfRam = ofType(map, E820Entry.RAM).stream().mapToLong(Range::end).max().orElseThrow();
        // A 1 MiB guest ends in the legacy area, which is not RAM; any larger one ends with RAM.
        assertEquals(layout.ramSize() > MiB ? layout.topOfRam() : PcMemoryLayout.LEGACY_HOLE_START, topOfRam);
    }

    @ParameterizedTest
    @MethodSource("layouts")
    void lowRamEntryFromOneMiBReachesTheEndOfLowRam(PcMemoryLayout layout, int pageDirectories) {
        List<E820Entry> map = E820Entry.forLayout(layout, BootLayout.bootDataEnd(pageDirectories));
        long lowEnd = Math.min(layout.ramSize(), 3 * GiB);
        if (lowEnd > MiB) {
            assertTrue(map.contains(new E820Entry(MiB, lowEnd - MiB, E820Entry.RAM)), "no RAM entry [1 MiB, 0x" + Long.toHexString(lowEnd) + ") in " + map);
        }
        // The page at 0 (real-mode IVT and BDA) stays usable, as on a PC.
        assertTrue(map.contains(new E820Entry(0, 0x1000, E820Entry.RAM)), map.toString());
    }

    @ParameterizedTest
    @MethodSource("layouts")
    void noEntryWrapsOrHasANegativeSize(PcMemoryLayout layout, int pageDirectories) {
        for (E820Entry e : E820Entry.forLayout(layout, BootLayout.bootDataEnd(pageDirectories))) {
            if (e.address() < 0 || e.size() <= 0 || e.end() < e.address()) {
                fail("bad entry " + e);
            }
        }
    }
}
