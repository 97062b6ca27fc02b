package dev.jkvm.memory;

/**
 * A run of guest-physical addresses backed by RAM, and where in the host mapping it starts.
 */
public record RamRange(long guestAddress, long size, long backingOffset) {
    public RamRange {
        if (guestAddress < 0 || size <= 0 || backingOffset < 0) {
            throw new IllegalArgumentException("bad RAM range " + guestAddress + "+" + size);
        }
    }

    public long end() {
        return guestAddress + size;
    }
}
