package dev.jkvm.devices.legacy.platform;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.LocalDateTime;
import java.time.ZoneOffset;

import static dev.jkvm.devices.legacy.platform.CmosRtc.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CmosRtcTest {
    private static final long MS = 1_000_000L;
    private static final long S = 1_000_000_000L;

    private Recorders.Line line;
    private Recorders.Clock clock;
    private CmosRtc rtc;

    private static long at(String isoUtc) {
        return LocalDateTime.parse(isoUtc).toEpochSecond(ZoneOffset.UTC) * S;
    }

    @BeforeEach
    void setUp() {
        line = new Recorders.Line();
        // Sunday 9 March 2025, 13:45:58.5 UTC.
        clock = new Recorders.Clock(at("2025-03-09T13:45:58") + 500 * MS);
        rtc = new CmosRtc(line, clock::get, false);
    }

    private int reg(int index) {
        rtc.write(0, 1, index);
        return (int) rtc.read(1, 1);
    }

    private void set(int index, int value) {
        rtc.write(0, 1, index);
        rtc.write(1, 1, value);
    }

    private String time() {
        return String.format("%02x%02x-%02x-%02x %02x:%02x:%02x dow=%d", reg(CENTURY), reg(YEAR), reg(MONTH), reg(DAY_OF_MONTH),
                reg(HOURS), reg(MINUTES), reg(SECONDS), reg(DAY_OF_WEEK));
    }

    @Test
    void readsTheHostClockInBcdAnd24HoursByDefault() {
        assertEquals(0x26, reg(REG_A));
        assertEquals(0x02, reg(REG_B));
        assertEquals(0x80, reg(REG_D));
        assertEquals("2025-03-09 13:45:58 dow=1", time());
    }

    @Test
    void binaryAndTwelveHourModes() {
        set(REG_B, B_BINARY);
        assertEquals(58, reg(SECONDS));
        assertEquals(45, reg(MINUTES));
        assertEquals(0x80 | 1, reg(HOURS), "1 PM");
        assertEquals(25, reg(YEAR));
        assertEquals(20, reg(CENTURY));
        set(REG_B, 0);
        assertEquals(0x81, reg(HOURS), "BCD 1 PM");
        clock.now = at("2025-03-10T00:30:00");
        assertEquals(0x12, reg(HOURS), "12 AM");
        clock.now = at("2025-03-10T12:30:00");
        assertEquals(0x92, reg(HOURS), "12 PM");
    }

    @Test
    void theClockAdvancesWithTheHost() {
        clock.advance(1500 * MS);
        assertEquals("2025-03-09 13:46:00 dow=1", time());
        clock.now = at("2099-12-31T23:59:59") + 999 * MS;
        assertEquals("2099-12-31 23:59:59 dow=5", time());
        clock.advance(MS);
        assertEquals("2100-01-01 00:00:00 dow=6", time());
    }

    @Test
    void updateInProgressShowsJustBeforeEachSecond() {
        assertEquals(0, reg(REG_A) & A_UIP);
        clock.now = at("2025-03-09T13:45:58") + S - 200_000;
        assertEquals(A_UIP, reg(REG_A) & A_UIP);
        assertEquals(0x58, reg(SECONDS), "the update has not happened yet");
        clock.advance(300_000);
        assertEquals(0, reg(REG_A) & A_UIP);
        assertEquals(0x59, reg(SECONDS));
    }

    @Test
    void setStopsTheClockAndTheGuestSetsTheTime() {
        set(REG_B, B_SET | B_24H | B_UIE);
        assertEquals(B_SET | B_24H, reg(REG_B), "SET clears UIE");
        set(SECONDS, 0x59);
        set(MINUTES, 0x59);
        set(HOURS, 0x23);
        set(DAY_OF_MONTH, 0x31);
        set(MONTH, 0x12);
        set(YEAR, 0x30);
        set(CENTURY, 0x20);
        clock.advance(5 * S);
        assertEquals(0x59, reg(SECONDS), "stopped while SET");
        assertEquals(0, reg(REG_A) & A_UIP);
        set(REG_B, B_24H);
        assertEquals("2030-12-31 23:59:59 dow=3", time());
        clock.advance(999 * MS);
        assertEquals(0x59, reg(SECONDS), "the first update comes a full second after SET clears");
        clock.advance(MS);
        assertEquals("2031-01-01 00:00:00 dow=4", time());
    }

    @Test
    void writingOneFieldOfARunningClockKeepsTheOthers() {
        set(MINUTES, 0x10);
        assertEquals("2025-03-09 13:10:58 dow=1", time());
        clock.advance(2 * S);
        assertEquals("2025-03-09 13:11:00 dow=1", time());
    }

    @Test
    void changingTheFormatWhileStoppedKeepsTheTime() {
        set(REG_B, B_SET | B_24H);
        set(REG_B, B_SET | B_BINARY);
        assertEquals(58, reg(SECONDS));
        assertEquals(0x81, reg(HOURS));
        set(REG_B, B_BINARY | B_24H);
        assertEquals(13, reg(HOURS));
        assertEquals(45, reg(MINUTES));
        set(REG_B, B_24H);
        assertEquals("2025-03-09 13:45:58 dow=1", time());
    }

    @Test
    void garbageTimeIsNormalisedNotFatal() {
        set(REG_B, B_SET | B_24H);
        for (int r : new int[] {SECONDS, MINUTES, HOURS, DAY_OF_WEEK, DAY_OF_MONTH, MONTH, YEAR, CENTURY}) {
            set(r, 0xff);
        }
        set(REG_B, B_24H);
        time();
        set(REG_B, B_SET | B_24H);
        set(SECONDS, 0);
        set(MINUTES, 0);
        set(HOURS, 0);
        set(DAY_OF_MONTH, 0x29);
        set(MONTH, 0x02);
        set(YEAR, 0x25);
        set(CENTURY, 0x20);
        set(REG_B, B_24H);
        assertEquals("2025-03-01 00:00:00 dow=7", time(), "29 February 2025 carries over into March");
    }

    @Test
    void dividerResetHoldsTheClockAndTheFirstUpdateComesHalfASecondLater() {
        set(REG_A, 0x70);
        clock.advance(10 * S);
        assertEquals(0x58, reg(SECONDS));
        set(REG_A, 0x26);
        clock.advance(499 * MS);
        assertEquals(0x58, reg(SECONDS));
        clock.advance(MS);
        assertEquals(0x59, reg(SECONDS));
    }

    @Test
    void updateFlagWithoutInterrupt() {
        clock.advance(600 * MS);
        assertEquals(C_UF, reg(REG_C));
        assertEquals(0, reg(REG_C), "reading C clears it");
        assertFalse(line.high());
    }

    @Test
    void updateInterruptRaisesIrq8UntilCIsRead() {
        set(REG_B, B_24H | B_UIE);
        assertEquals(500 * MS, rtc.nextEvent(clock.now) - clock.now);
        clock.advance(600 * MS);
        rtc.timerExpired();
        assertTrue(line.high());
        assertEquals(Long.MAX_VALUE, rtc.nextEvent(clock.now), "no timer while the line is up");
        assertEquals(C_IRQF | C_UF, reg(REG_C));
        assertFalse(line.high());
        assertEquals(0, reg(REG_C));
    }

    @Test
    void alarmMatchesAndDontCareBytes() {
        set(HOURS_ALARM, 0x13);
        set(MINUTES_ALARM, 0x46);
        set(SECONDS_ALARM, 0x10);
        set(REG_B, B_24H | B_AIE);
        assertEquals(at("2025-03-09T13:46:10"), rtc.nextEvent(clock.now));
        clock.now = at("2025-03-09T13:46:09") + 900 * MS;
        assertEquals(C_UF, reg(REG_C));
        clock.advance(200 * MS);
        rtc.timerExpired();
        assertTrue(line.high());
        assertEquals(C_IRQF | C_AF | C_UF, reg(REG_C));
        // Every minute at :00.
        set(HOURS_ALARM, 0xc0);
        set(MINUTES_ALARM, 0xff);
        set(SECONDS_ALARM, 0x00);
        assertEquals(at("2025-03-09T13:47:00"), rtc.nextEvent(clock.now));
        // An hour the clock never shows never matches.
        set(HOURS_ALARM, 0x25);
        assertEquals(Long.MAX_VALUE, rtc.nextEvent(clock.now));
        clock.advance(3 * 3600 * S);
        assertEquals(C_UF, reg(REG_C));
    }

    @Test
    void alarmsFoundAcrossALongGap() {
        set(HOURS_ALARM, 0x02);
        set(MINUTES_ALARM, 0x00);
        set(SECONDS_ALARM, 0x00);
        reg(REG_C);
        clock.advance(11 * 3600 * S);
        assertEquals(0, reg(REG_C) & C_AF, "02:00 did not pass");
        clock.advance(2 * 3600 * S);
        assertEquals(C_AF | C_UF, reg(REG_C), "02:00 on the next day passed");
    }

    @Test
    void periodicInterruptAtTheProgrammedRate() {
        set(REG_A, 0x26);
        set(REG_B, B_24H | B_PIE);
        long next = rtc.nextEvent(clock.now) - clock.now;
        assertTrue(next > 0 && next <= 976_563, "1024 Hz: " + next);
        clock.advance(next);
        rtc.timerExpired();
        assertTrue(line.high());
        assertEquals(C_IRQF | C_PF, reg(REG_C));
        set(REG_A, 0x23);
        next = rtc.nextEvent(clock.now) - clock.now;
        assertTrue(next > 0 && next <= 122_071, "8192 Hz: " + next);
        set(REG_A, 0x20);
        assertEquals(Long.MAX_VALUE, rtc.nextEvent(clock.now), "rate 0: no periodic interrupt");
    }

    @Test
    void memorySizeBytesLikeQemu() {
        rtc.setMemorySizes(64L << 20, 0);
        rtc.setCpuCount(2);
        assertEquals(640, rtc.get(0x15) | rtc.get(0x16) << 8);
        assertEquals(63 * 1024, rtc.get(0x17) | rtc.get(0x18) << 8);
        assertEquals(63 * 1024, rtc.get(0x30) | rtc.get(0x31) << 8);
        assertEquals(768, rtc.get(0x34) | rtc.get(0x35) << 8);
        assertEquals(0, rtc.get(0x5b) | rtc.get(0x5c) | rtc.get(0x5d));
        assertEquals(1, rtc.get(0x5f));
        rtc.setMemorySizes(3L << 30, 1L << 30);
        assertEquals(0xffff, rtc.get(0x17) | rtc.get(0x18) << 8);
        assertEquals(0xffff, rtc.get(0x30) | rtc.get(0x31) << 8);
        assertEquals(((3L << 30) - (16L << 20)) >> 16, rtc.get(0x34) | rtc.get(0x35) << 8);
        assertEquals(0x4000, rtc.get(0x5b) | rtc.get(0x5c) << 8 | rtc.get(0x5d) << 16);
        assertEquals(0x4000, reg(0x5b) | reg(0x5c) << 8, "the guest reads the same");
    }

    @Test
    void nvramIndexAndNmiMask() {
        set(0x40, 0xa5);
        set(0x7f, 0x5a);
        assertEquals(0xa5, reg(0x40));
        rtc.write(0, 1, 0x80 | 0x7f);
        assertTrue(rtc.nmiMasked());
        assertEquals(0x5a, rtc.read(1, 1));
        assertEquals(0xff, rtc.read(0, 1), "the index port is write-only");
        // A 16-bit write is an index byte then a data byte, as the ISA bus splits it.
        rtc.write(0, 2, 0x3c41);
        assertEquals(0x3c, reg(0x41));
    }

    @Test
    void readOnlyRegisters() {
        set(REG_A, 0xff);
        assertEquals(0x7f, reg(REG_A), "UIP is not writable");
        set(REG_A, 0x26);
        set(REG_D, 0x00);
        assertEquals(0x80, reg(REG_D));
        set(REG_C, 0xff);
        assertEquals(0, reg(REG_C));
    }

    @Test
    void resetClearsInterruptEnables() {
        set(REG_B, B_24H | B_UIE | B_PIE | B_AIE);
        clock.advance(S);
        rtc.timerExpired();
        assertTrue(line.high());
        rtc.reset();
        assertFalse(line.high());
        assertEquals(B_24H, reg(REG_B));
    }

    @Test
    void timerThreadRaisesTheUpdateInterruptOnTimeAndOnlyWhenEnabled() throws Exception {
        CmosRtc real = new CmosRtc(line);
        try {
            assertFalse(real.timerArmed());
            real.write(0, 1, REG_B);
            real.write(1, 1, B_24H | B_UIE);
            assertTrue(real.timerArmed());
            long deadline = System.nanoTime() + 3 * S;
            while (!line.high() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertTrue(line.high(), "update interrupt within a second");
            assertFalse(real.timerArmed(), "no timer while the interrupt waits for the guest");
            real.write(0, 1, REG_C);
            assertEquals(C_IRQF | C_UF, real.read(1, 1) & (C_IRQF | C_UF));
            assertFalse(line.high());
            assertTrue(real.timerArmed());
            real.write(0, 1, REG_B);
            real.write(1, 1, B_24H);
            assertFalse(real.timerArmed());
        } finally {
            real.close();
        }
    }
}
