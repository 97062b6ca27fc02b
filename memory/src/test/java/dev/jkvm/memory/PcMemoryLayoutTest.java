package dev.jkvm.memory;

import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.jkvm.memory.PcMemoryLayout.GiB;
import static dev.jkvm.memory.PcMemoryLayout.MiB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class PcMemoryLayoutTest {
    @Test
    void smallGuestHasOnlyLowRam() {
        PcMemoryLayout l = PcMemoryLayout.forRamSize(64 * MiB);
        assertEquals(List.of(new RamRange(0, 64 * MiB, 0)), l.ramRanges());
        assertEquals(64 * MiB, l.topOfRam());
    }

    @Test
    void exactlyThreeGiBFitsBelowTheHole() {
        PcMemoryLayout l = PcMemoryLayout.forRamSize(3 * GiB);
        assertEquals(1, l.ramRanges().size());
        assertEquals(0, l.highRamSize());
    }

    @Test
    void ramAboveThreeGiBMovesAboveFourGiB() {
        PcMemoryLayout l = PcMemoryLayout.forRamSize(4 * GiB);
        assertEquals(List.of(new RamRange(0, 3 * GiB, 0), new RamRange(4 * GiB, GiB, 3 * GiB)), l.ramRanges());
        assertEquals(5 * GiB, l.topOfRam());
    }

    @Test
    void badSizesAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> PcMemoryLayout.forRamSize(0));
        assertThrows(IllegalArgumentException.class, () -> PcMemoryLayout.forRamSize(-4096));
        assertThrows(IllegalArgumentException.class, () -> PcMemoryLayout.forRamSize(MiB + 1));
        assertThrows(IllegalArgumentException.class, () -> PcMemoryLayout.forRamSize(PcMemoryLayout.MAX_RAM + 4096));
    }
}
