package dev.jkvm.memory;

/**
 * A guest-physical access that falls outside guest RAM, wraps around, or crosses a hole.
 * Devices catch it and move into their error state; it never means host memory was touched.
 */
public final class GuestMemoryException extends RuntimeException {
    private final long address;
    private final long length;

    public GuestMemoryException(long address, long length, String reason) {
        super(String.format("guest address 0x%x length %d: %s", address, length, reason), null, false, false);
        this.address = address;
        this.length = length;
    }

    public long address() {
        return address;
    }

    public long length() {
        return length;
    }
}
