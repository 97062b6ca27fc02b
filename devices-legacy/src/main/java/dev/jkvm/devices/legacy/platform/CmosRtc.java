package dev.jkvm.devices.legacy.platform;

import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.device.InterruptLine;

import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.function.LongSupplier;

/**
 * The MC146818 real-time clock and its 128 bytes of CMOS RAM: index port 0x70 (bit 7 masks NMI),
 * data port 0x71, interrupt on IRQ 8.
 *
 * <p>Time is kept as an offset from a host clock, not as ticking registers: the guest's clock is
 * the host's UTC time (QEMU's default {@code -rtc base=utc}) plus whatever the guest set. The
 * registers are computed when read, in BCD or binary (register B bit 2) and 12- or 24-hour form
 * (bit 1). While B's SET bit is on, or register A holds the divider in reset, the clock stands
 * still and the time registers are plain storage the guest writes; clearing SET restarts the clock
 * from them, with the next update a second later (500 ms after the divider is released).
 *
 * <p>Register C's flags (periodic, alarm, update-ended) are worked out lazily from the time that
 * passed since they were last looked at. Only when the guest enables one of those interrupts in B
 * does a {@link DeviceTimer} wake to raise IRQ 8 on time, and only until the line is up: a guest
 * that does not read C to acknowledge costs nothing more.
 *
 * <p>By default the host clock is the wall clock read once at start-up and advanced by
 * {@link System#nanoTime()}, so the guest never sees the host's clock being stepped.
 */
public final class CmosRtc implements BusDevice, AutoCloseable {
    public static final int BASE_PORT = 0x70;
    public static final int PORT_COUNT = 2;
    public static final int IRQ = 8;
    public static final int SIZE = 128;

    static final int SECONDS = 0x00;
    static final int SECONDS_ALARM = 0x01;
    static final int MINUTES = 0x02;
    static final int MINUTES_ALARM = 0x03;
    static final int HOURS = 0x04;
    static final int HOURS_ALARM = 0x05;
    static final int DAY_OF_WEEK = 0x06;
    static final int DAY_OF_MONTH = 0x07;
    static final int MONTH = 0x08;
    static final int YEAR = 0x09;
    static final int REG_A = 0x0a;
    static final int REG_B = 0x0b;
    static final int REG_C = 0x0c;
    static final int REG_D = 0x0d;
    /** The century byte, where QEMU and the ACPI FADT's CENTURY field put it. */
    static final int CENTURY = 0x32;

    /** Memory sizes as QEMU's pc_cmos_init writes them (16-bit values little-endian). */
    static final int BASE_MEMORY_KIB = 0x15;
    static final int EXTENDED_MEMORY_KIB = 0x17;
    static final int EXTENDED_MEMORY_KIB_COPY = 0x30;
    static final int MEMORY_ABOVE_16M_64K = 0x34;
    static final int MEMORY_ABOVE_4G_64K = 0x5b;
    static final int CPU_COUNT_MINUS_ONE = 0x5f;

    static final int A_UIP = 0x80;
    static final int A_DIVIDER = 0x70;
    static final int A_RATE = 0x0f;
    /** Divider 010: the 32.768 kHz time base; 11x holds the chain in reset. */
    static final int A_DIVIDER_32K = 0x20;
    static final int A_DIVIDER_RESET = 0x60;

    static final int B_SET = 0x80;
    static final int B_PIE = 0x40;
    static final int B_AIE = 0x20;
    static final int B_UIE = 0x10;
    static final int B_SQWE = 0x08;
    static final int B_BINARY = 0x04;
    static final int B_24H = 0x02;
    static final int B_DSE = 0x01;

    static final int C_IRQF = 0x80;
    static final int C_PF = 0x40;
    static final int C_AF = 0x20;
    static final int C_UF = 0x10;

    static final int D_VRT = 0x80;

    static final long NANOS_PER_SECOND = 1_000_000_000L;
    /** UIP reads 1 this long before each update (the MC146818's tBUC). */
    static final long UIP_NANOS = 244_000;
    /** The first update after the divider leaves reset comes half a second later. */
    static final long DIVIDER_RELEASE_NANOS = 500_000_000L;
    private static final long TICKS_PER_SECOND = 32_768;
    private static final long NEVER = Long.MAX_VALUE;
    private static final int ALARM_DONT_CARE = 0xc0;

    private final InterruptLine irq;
    private final LongSupplier hostNanos;
    private final DeviceTimer timer;
    private final int[] cmos = new int[SIZE];
    private int index;
    private boolean nmiMasked;
    /** Guest time (epoch seconds) at host time {@link #origin}, while the clock runs. */
    private long base;
    /** A host time (epoch nanoseconds) at which the divider chain is at a second boundary. */
    private long origin;
    /** Host time up to which {@link #flags} account for what happened. */
    private long checkedUpTo;
    private int flags;
    private boolean irqLevel;

    public CmosRtc(InterruptLine irq) {
        this(irq, startupAnchoredClock(), true);
    }

    /**
     * @param hostNanos  the host's UTC time in nanoseconds since the epoch; must not go backwards
     * @param timed      whether to raise interrupts on time with a timer thread (tests drive it by hand)
     */
    CmosRtc(InterruptLine irq, LongSupplier hostNanos, boolean timed) {
        this.irq = irq;
        this.hostNanos = hostNanos;
        this.timer = timed ? new DeviceTimer("cmos-rtc-timer", this::timerExpired) : null;
        cmos[REG_A] = A_DIVIDER_32K | 0x06;
        cmos[REG_B] = B_24H;
        cmos[REG_D] = D_VRT;
        long now = hostNanos.getAsLong();
        origin = Math.floorDiv(now, NANOS_PER_SECOND) * NANOS_PER_SECOND;
        base = Math.floorDiv(now, NANOS_PER_SECOND);
        checkedUpTo = now;
    }

    private static LongSupplier startupAnchoredClock() {
        Instant wall = Instant.now();
        long wallNanos = wall.getEpochSecond() * NANOS_PER_SECOND + wall.getNano();
        long mono = System.nanoTime();
        return () -> wallNanos + (System.nanoTime() - mono);
    }

    // ---- firmware set-up ----

    /**
     * Writes the memory-size bytes as QEMU does: base memory in KiB (at most 640), memory from 1 MiB
     * to the end of low RAM in KiB (capped at 0xFFFF), from 16 MiB in 64 KiB units (capped at
     * 0xFFFF), and RAM above 4 GiB in 64 KiB units (three bytes).
     */
    public synchronized void setMemorySizes(long lowRamBytes, long highRamBytes) {
        long kib = 1024;
        long mib = 1024 * kib;
        set16(BASE_MEMORY_KIB, Math.min(lowRamBytes / kib, 640));
        long extended = Math.min(lowRamBytes > mib ? (lowRamBytes - mib) / kib : 0, 0xffff);
        set16(EXTENDED_MEMORY_KIB, extended);
        set16(EXTENDED_MEMORY_KIB_COPY, extended);
        set16(MEMORY_ABOVE_16M_64K, Math.min(lowRamBytes > 16 * mib ? (lowRamBytes - 16 * mib) / (64 * kib) : 0, 0xffff));
        long high = Math.min(highRamBytes / (64 * kib), 0xffffff);
        cmos[MEMORY_ABOVE_4G_64K] = (int) (high & 0xff);
        cmos[MEMORY_ABOVE_4G_64K + 1] = (int) ((high >>> 8) & 0xff);
        cmos[MEMORY_ABOVE_4G_64K + 2] = (int) ((high >>> 16) & 0xff);
    }

    /** Byte 0x5F: the number of CPUs minus one, as QEMU sets it for SeaBIOS. */
    public synchronized void setCpuCount(int cpus) {
        cmos[CPU_COUNT_MINUS_ONE] = Math.clamp(cpus - 1, 0, 0xff);
    }

    private void set16(int at, long value) {
        cmos[at] = (int) (value & 0xff);
        cmos[at + 1] = (int) ((value >>> 8) & 0xff);
    }

    /** A CMOS byte as the guest would read it, without side effects (C keeps its flags). */
    public synchronized int get(int at) {
        long now = hostNanos.getAsLong();
        catchUp(now);
        int reg = at & 0x7f;
        if (reg == REG_C) {
            return flags | (interruptFlag() ? C_IRQF : 0);
        }
        int saved = index;
        index = reg;
        int v = readData(now);
        index = saved;
        return v;
    }

    /** What a reset does to the chip: interrupt enables and pending flags clear; time and RAM stay. */
    public synchronized void reset() {
        long now = hostNanos.getAsLong();
        catchUp(now);
        cmos[REG_B] &= ~(B_PIE | B_AIE | B_UIE | B_SQWE);
        flags = 0;
        updateIrq();
        schedule(now);
    }

    // ---- ports ----

    @Override
    public synchronized long read(long offset, int size) {
        long now = hostNanos.getAsLong();
        long v = 0;
        // A wide access is split into byte cycles, as the ISA bus does.
        for (int i = 0; i < size; i++) {
            long port = offset + i;
            int b = port == 1 ? readData(now) : 0xff;
            v |= (long) b << (8 * i);
        }
        return v;
    }

    @Override
    public synchronized void write(long offset, int size, long value) {
        long now = hostNanos.getAsLong();
        for (int i = 0; i < size; i++) {
            long port = offset + i;
            int b = (int) (value >>> (8 * i)) & 0xff;
            if (port == 0) {
                index = b & 0x7f;
                nmiMasked = (b & 0x80) != 0;
            } else if (port == 1) {
                writeData(b, now);
            }
        }
    }

    private int readData(long now) {
        catchUp(now);
        return switch (index) {
            case SECONDS, MINUTES, HOURS, DAY_OF_WEEK, DAY_OF_MONTH, MONTH, YEAR, CENTURY ->
                    running() ? encodeField(index, timeFields(guestSeconds(now)), cmos[REG_B]) : cmos[index];
            case REG_A -> (cmos[REG_A] & ~A_UIP) | (updateInProgress(now) ? A_UIP : 0);
            case REG_C -> {
                int v = flags | (interruptFlag() ? C_IRQF : 0);
                flags = 0;
                updateIrq();
                schedule(now);
                yield v;
            }
            case REG_D -> D_VRT;
            default -> cmos[index];
        };
    }

    private void writeData(int v, long now) {
        catchUp(now);
        switch (index) {
            case SECONDS, MINUTES, HOURS, DAY_OF_WEEK, DAY_OF_MONTH, MONTH, YEAR, CENTURY -> {
                if (running()) {
                    // Setting one field of a running clock: the others keep the current time.
                    storeTime(guestSeconds(now));
                    cmos[index] = v;
                    base = decodeTime();
                    origin = now;
                } else {
                    cmos[index] = v;
                }
            }
            case REG_A -> writeA(v & ~A_UIP, now);
            case REG_B -> writeB(v, now);
            case REG_C, REG_D -> {
                // read-only
            }
            default -> cmos[index] = v;
        }
        updateIrq();
        schedule(now);
    }

    private void writeA(int v, long now) {
        boolean wasRunning = running();
        boolean dividerWasRunning = dividerRunning();
        if (wasRunning) {
            storeTime(guestSeconds(now));
        }
        cmos[REG_A] = v;
        if (!dividerWasRunning && dividerRunning()) {
            origin = now - DIVIDER_RELEASE_NANOS;
        }
        if (!wasRunning && running()) {
            base = decodeTime();
            if (dividerWasRunning) {
                origin = now;
            }
        }
    }

    private void writeB(int v, long now) {
        if ((v & B_SET) != 0) {
            // Setting SET also clears UIE, as on the chip.
            v &= ~B_UIE;
        }
        int old = cmos[REG_B];
        boolean wasRunning = running();
        if (wasRunning) {
            storeTime(guestSeconds(now));
        }
        if (((old ^ v) & (B_BINARY | B_24H)) != 0) {
            convert(old, v, !wasRunning);
        }
        cmos[REG_B] = v;
        if (!wasRunning && running()) {
            base = decodeTime();
            origin = now;
        }
    }

    /** Re-encodes the stored time (when the clock stands still) and the alarms for a new data mode. */
    private void convert(int oldB, int newB, boolean time) {
        if (time) {
            int[] f = decodeFields(oldB);
            for (int reg : new int[] {SECONDS, MINUTES, HOURS, DAY_OF_WEEK, DAY_OF_MONTH, MONTH, YEAR, CENTURY}) {
                cmos[reg] = encodeField(reg, f, newB);
            }
        }
        for (int alarm : new int[] {SECONDS_ALARM, MINUTES_ALARM, HOURS_ALARM}) {
            int a = cmos[alarm];
            if ((a & ALARM_DONT_CARE) != ALARM_DONT_CARE) {
                int value = alarm == HOURS_ALARM ? decodeHour(a, oldB) : decode(a, oldB);
                cmos[alarm] = alarm == HOURS_ALARM ? encodeHour(value, newB) : encode(value, newB);
            }
        }
    }

    // ---- the clock ----

    private boolean dividerRunning() {
        return (cmos[REG_A] & A_DIVIDER) <= A_DIVIDER_32K;
    }

    private boolean running() {
        return (cmos[REG_B] & B_SET) == 0 && dividerRunning();
    }

    private long guestSeconds(long now) {
        return base + Math.floorDiv(now - origin, NANOS_PER_SECOND);
    }

    private boolean updateInProgress(long now) {
        return running() && Math.floorMod(now - origin, NANOS_PER_SECOND) >= NANOS_PER_SECOND - UIP_NANOS;
    }

    private void storeTime(long seconds) {
        int[] f = timeFields(seconds);
        for (int reg : new int[] {SECONDS, MINUTES, HOURS, DAY_OF_WEEK, DAY_OF_MONTH, MONTH, YEAR, CENTURY}) {
            cmos[reg] = encodeField(reg, f, cmos[REG_B]);
        }
    }

    /** Fields indexed by their register number (century at index 10). */
    private static int[] timeFields(long seconds) {
        LocalDateTime t = LocalDateTime.ofEpochSecond(seconds, 0, ZoneOffset.UTC);
        int[] f = new int[11];
        f[SECONDS] = t.getSecond();
        f[MINUTES] = t.getMinute();
        f[HOURS] = t.getHour();
        f[DAY_OF_WEEK] = t.getDayOfWeek().getValue() % 7 + 1;
        f[DAY_OF_MONTH] = t.getDayOfMonth();
        f[MONTH] = t.getMonthValue();
        f[YEAR] = Math.floorMod(t.getYear(), 100);
        f[10] = Math.floorDiv(t.getYear(), 100);
        return f;
    }

    private static int encodeField(int reg, int[] f, int b) {
        return switch (reg) {
            case HOURS -> encodeHour(f[HOURS], b);
            case CENTURY -> encode(f[10], b);
            default -> encode(f[reg], b);
        };
    }

    private int[] decodeFields(int b) {
        int[] f = new int[11];
        for (int reg : new int[] {SECONDS, MINUTES, DAY_OF_WEEK, DAY_OF_MONTH, MONTH, YEAR}) {
            f[reg] = decode(cmos[reg], b);
        }
        f[HOURS] = decodeHour(cmos[HOURS], b);
        f[10] = decode(cmos[CENTURY], b);
        return f;
    }

    /**
     * The time the registers hold, in epoch seconds. Out-of-range fields (month 13, BCD digits
     * above 9, day 31 in February) carry over into the next field instead of failing.
     */
    private long decodeTime() {
        int[] f = decodeFields(cmos[REG_B]);
        int year = Math.clamp(f[10] * 100L + f[YEAR], 0, 9999);
        return LocalDate.of(year, 1, 1).atStartOfDay()
                .plusMonths(f[MONTH] - 1L)
                .plusDays(f[DAY_OF_MONTH] - 1L)
                .plusHours(f[HOURS])
                .plusMinutes(f[MINUTES])
                .plusSeconds(f[SECONDS])
                .toEpochSecond(ZoneOffset.UTC);
    }

    private static int encode(int v, int b) {
        return (b & B_BINARY) != 0 ? v & 0xff : ((v / 10 % 10) << 4) | (v % 10);
    }

    private static int decode(int v, int b) {
        return (b & B_BINARY) != 0 ? v : ((v >>> 4) & 0x0f) * 10 + (v & 0x0f);
    }

    private static int encodeHour(int hour, int b) {
        if ((b & B_24H) != 0) {
            return encode(hour, b);
        }
        int h12 = hour % 12 == 0 ? 12 : hour % 12;
        return encode(h12, b) | (hour >= 12 ? 0x80 : 0);
    }

    private static int decodeHour(int v, int b) {
        if ((b & B_24H) != 0) {
            return decode(v, b);
        }
        return decode(v & 0x7f, b) % 12 + ((v & 0x80) != 0 ? 12 : 0);
    }

    // ---- interrupts ----

    /** Sets C's flags for every periodic tick, update and alarm between the last look and now. */
    private void catchUp(long now) {
        long from = checkedUpTo;
        if (now <= from) {
            return;
        }
        checkedUpTo = now;
        if (!dividerRunning()) {
            return;
        }
        // PF counts only while the periodic interrupt or the square wave is on, as QEMU has it.
        long period = (cmos[REG_B] & (B_PIE | B_SQWE)) != 0 ? periodTicks() : 0;
        if (period > 0 && Math.floorDiv(ticks(now - origin), period) != Math.floorDiv(ticks(from - origin), period)) {
            flags |= C_PF;
        }
        if ((cmos[REG_B] & B_SET) == 0) {
            long s0 = Math.floorDiv(from - origin, NANOS_PER_SECOND);
            long s1 = Math.floorDiv(now - origin, NANOS_PER_SECOND);
            if (s1 > s0) {
                flags |= C_UF;
                if (nextAlarm(base + s0 + 1) <= base + s1) {
                    flags |= C_AF;
                }
            }
        }
    }

    /** 32.768 kHz ticks of the divider in d nanoseconds. */
    private static long ticks(long d) {
        return Math.floorDiv(d, NANOS_PER_SECOND) * TICKS_PER_SECOND
                + Math.floorMod(d, NANOS_PER_SECOND) * TICKS_PER_SECOND / NANOS_PER_SECOND;
    }

    /** The first time (nanoseconds from the origin) at which ticks() reaches t. */
    private static long ticksToNanos(long t) {
        long rem = Math.floorMod(t, TICKS_PER_SECOND);
        return Math.floorDiv(t, TICKS_PER_SECOND) * NANOS_PER_SECOND + (rem * NANOS_PER_SECOND + TICKS_PER_SECOND - 1) / TICKS_PER_SECOND;
    }

    /** The periodic interrupt's period in 32.768 kHz ticks, or 0 when RS is 0 or the time base is not 32.768 kHz. */
    private long periodTicks() {
        int rs = cmos[REG_A] & A_RATE;
        if (rs == 0 || (cmos[REG_A] & A_DIVIDER) != A_DIVIDER_32K) {
            return 0;
        }
        // Rates 1 and 2 repeat 8 and 9 (256 and 128 Hz), as on the chip.
        return 1L << ((rs <= 2 ? rs + 7 : rs) - 1);
    }

    /** The first guest second at or after {@code from} that matches the alarm, or NEVER. */
    private long nextAlarm(long from) {
        int b = cmos[REG_B];
        int wantS = alarmField(cmos[SECONDS_ALARM], b, false);
        int wantM = alarmField(cmos[MINUTES_ALARM], b, false);
        int wantH = alarmField(cmos[HOURS_ALARM], b, true);
        if (wantS >= 60 || wantM >= 60 || wantH >= 24) {
            return NEVER;
        }
        long hourStart = Math.floorDiv(from, 3600) * 3600;
        int lower = (int) (from - hourStart);
        // Two days of hours always contain a match of any valid alarm.
        for (int k = 0; k < 49; k++, hourStart += 3600, lower = 0) {
            int hour = (int) Math.floorMod(Math.floorDiv(hourStart, 3600), 24);
            if (wantH >= 0 && hour != wantH) {
                continue;
            }
            for (int m = lower / 60; m < 60; m++) {
                if (wantM >= 0 && m != wantM) {
                    continue;
                }
                int sLower = m == lower / 60 ? lower % 60 : 0;
                int s = wantS < 0 ? sLower : wantS;
                if (s >= sLower) {
                    return hourStart + m * 60L + s;
                }
            }
        }
        return NEVER;
    }

    /** An alarm byte's value, or -1 for "don't care" (top two bits set). */
    private static int alarmField(int v, int b, boolean hours) {
        if ((v & ALARM_DONT_CARE) == ALARM_DONT_CARE) {
            return -1;
        }
        return hours ? decodeHour(v, b) : decode(v, b);
    }

    private boolean interruptFlag() {
        return (flags & cmos[REG_B] & (C_PF | C_AF | C_UF)) != 0;
    }

    private void updateIrq() {
        boolean level = interruptFlag();
        if (level != irqLevel) {
            irqLevel = level;
            irq.set(level);
        }
    }

    /** Arms the timer for the next enabled event, unless the line is already up or nothing is enabled. */
    private void schedule(long now) {
        if (timer == null) {
            return;
        }
        long next = nextEvent(now);
        if (next == NEVER) {
            timer.cancel();
        } else {
            // A microsecond late rather than early: the callback must find the event has happened.
            timer.scheduleIn(next - now + 1_000);
        }
    }

    /** Host time of the next enabled interrupt event, or NEVER. */
    long nextEvent(long now) {
        int b = cmos[REG_B];
        if (irqLevel || (b & (B_PIE | B_AIE | B_UIE)) == 0 || !dividerRunning()) {
            return NEVER;
        }
        long next = NEVER;
        long period = periodTicks();
        if ((b & B_PIE) != 0 && period > 0) {
            long t = (Math.floorDiv(ticks(now - origin), period) + 1) * period;
            next = Math.min(next, origin + ticksToNanos(t));
        }
        if (running()) {
            long second = Math.floorDiv(now - origin, NANOS_PER_SECOND);
            if ((b & B_UIE) != 0) {
                next = Math.min(next, origin + (second + 1) * NANOS_PER_SECOND);
            }
            if ((b & B_AIE) != 0) {
                long s = nextAlarm(base + second + 1);
                if (s != NEVER) {
                    next = Math.min(next, origin + (s - base) * NANOS_PER_SECOND);
                }
            }
        }
        return next;
    }

    /** The timer's callback (tests call it directly). */
    synchronized void timerExpired() {
        long now = hostNanos.getAsLong();
        catchUp(now);
        updateIrq();
        schedule(now);
    }

    /** True while a timer deadline is armed (for tests: none unless an interrupt is enabled). */
    boolean timerArmed() {
        return timer != null && timer.armed();
    }

    synchronized boolean nmiMasked() {
        return nmiMasked;
    }

    /** Stops the timer thread, if any. */
    @Override
    public void close() {
        if (timer != null) {
            timer.close();
        }
    }
}
