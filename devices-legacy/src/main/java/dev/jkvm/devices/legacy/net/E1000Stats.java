package dev.jkvm.devices.legacy.net;

/**
 * The statistics registers, 0x4000-0x40FF: every one reads as a register, those the model never
 * counts read 0. As the manual says, they clear when read and stick at their maximum instead of
 * wrapping; the four 64-bit octet counters (GORC, GOTC, TOR, TOT) are read low half first and
 * clear when the high half is read. Not thread-safe: the device calls it under its lock.
 */
final class E1000Stats {
    static final int BASE = 0x4000;
    static final int SIZE = 0x100;

    static final int CRCERRS = 0x4000;
    static final int MPC = 0x4010;
    static final int PRC64 = 0x405c;
    static final int GPRC = 0x4074;
    static final int BPRC = 0x4078;
    static final int MPRC = 0x407c;
    static final int GPTC = 0x4080;
    static final int GORCL = 0x4088;
    static final int GORCH = 0x408c;
    static final int GOTCL = 0x4090;
    static final int GOTCH = 0x4094;
    static final int RNBC = 0x40a0;
    static final int ROC = 0x40ac;
    static final int TORL = 0x40c0;
    static final int TORH = 0x40c4;
    static final int TOTL = 0x40c8;
    static final int TOTH = 0x40cc;
    static final int TPR = 0x40d0;
    static final int TPT = 0x40d4;
    static final int PTC64 = 0x40d8;
    static final int MPTC = 0x40f0;
    static final int BPTC = 0x40f4;
    static final int TSCTC = 0x40f8;
    static final int TSCTFC = 0x40fc;

    private static final long MAX32 = 0xffff_ffffL;

    /** One slot per register; a 64-bit counter keeps its whole value in its low half's slot. */
    private final long[] counters = new long[SIZE / 4];

    private static int slot(int offset) {
        return (offset - BASE) >>> 2;
    }

    private static boolean isHigh(int offset) {
        return offset == GORCH || offset == GOTCH || offset == TORH || offset == TOTH;
    }

    private static boolean isLow(int offset) {
        return offset == GORCL || offset == GOTCL || offset == TORL || offset == TOTL;
    }

    static boolean contains(int offset) {
        return offset >= BASE && offset < BASE + SIZE;
    }

    int read(int offset) {
        int s = slot(offset);
        if (isLow(offset)) {
            return (int) counters[s];
        }
        if (isHigh(offset)) {
            long v = counters[s - 1];
            counters[s - 1] = 0;
            return (int) (v >>> 32);
        }
        long v = counters[s];
        counters[s] = 0;
        return (int) v;
    }

    void increment(int offset) {
        int s = slot(offset);
        if (counters[s] < MAX32) {
            counters[s]++;
        }
    }

    /** Adds to one of the 64-bit counters, named by its low half. */
    void addOctets(int lowOffset, long octets) {
        int s = slot(lowOffset);
        long v = counters[s] + octets;
        counters[s] = v < counters[s] ? -1L : v;     // sticks at all ones
    }

    /** The size buckets (64, 65-127, 128-255, 256-511, 512-1023, 1024 and up) after PRC64 or PTC64. */
    void countSize(int bucket64, int frameBytesWithFcs) {
        int b;
        if (frameBytesWithFcs < 64) {
            return;
        } else if (frameBytesWithFcs == 64) {
            b = 0;
        } else if (frameBytesWithFcs < 128) {
            b = 1;
        } else if (frameBytesWithFcs < 256) {
            b = 2;
        } else if (frameBytesWithFcs < 512) {
            b = 3;
        } else if (frameBytesWithFcs < 1024) {
            b = 4;
        } else {
            b = 5;
        }
        increment(bucket64 + 4 * b);
    }

    void reset() {
        java.util.Arrays.fill(counters, 0);
    }
}
