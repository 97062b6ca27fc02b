package dev.jkvm.devices.legacy.platform;

import dev.jkvm.vmm.device.BusDevice;

/**
 * A port that swallows writes and reads 0: the POST code port 0x80 and port 0xED, which kernels
 * write to for a short I/O delay. Claiming them keeps those writes from being counted as accesses
 * to nothing. The last value written is kept for diagnostics (the last POST code).
 */
public final class IoSink implements BusDevice {
    public static final int POST_PORT = 0x80;
    public static final int DELAY_PORT = 0xed;

    private volatile long lastWrite;

    @Override
    public long read(long offset, int size) {
        return 0;
    }

    @Override
    public void write(long offset, int size, long value) {
        lastWrite = value;
    }

    public long lastWrite() {
        return lastWrite;
    }
}
