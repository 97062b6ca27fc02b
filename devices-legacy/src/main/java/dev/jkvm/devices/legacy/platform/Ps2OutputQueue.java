package dev.jkvm.devices.legacy.platform;

import java.util.ArrayDeque;

/**
 * The bytes a PS/2 device (keyboard or mouse) has for the controller, oldest first, and the last
 * one it sent, which RESEND (0xFE) repeats. A real device buffers 16 bytes; a guest that never
 * reads loses the rest.
 */
final class Ps2OutputQueue {
    private static final int LIMIT = 16;

    private final ArrayDeque<Integer> bytes = new ArrayDeque<>();
    private final int initialLastSent;
    private int lastSent;

    /** {@code initialLastSent}: what RESEND repeats before anything was sent. */
    Ps2OutputQueue(int initialLastSent) {
        this.initialLastSent = initialLastSent;
        this.lastSent = initialLastSent;
    }

    boolean isEmpty() {
        return bytes.isEmpty();
    }

    /** The next byte, or -1. */
    int take() {
        Integer b = bytes.poll();
        return b == null ? -1 : b;
    }

    void send(int... values) {
        for (int b : values) {
            if (bytes.size() < LIMIT) {
                bytes.add(b & 0xff);
                lastSent = b & 0xff;
            }
        }
    }

    int lastSent() {
        return lastSent;
    }

    /** Drops what is queued; RESEND keeps repeating the last byte sent. */
    void clear() {
        bytes.clear();
    }

    /** Power-on state: nothing queued, and nothing sent yet. */
    void reset() {
        bytes.clear();
        lastSent = initialLastSent;
    }
}
