package dev.jkvm.memory;

import java.lang.foreign.MemorySegment;

/** A guest-physical range and the host segment that backs it, byte for byte. */
public record GuestRegion(long guestAddress, MemorySegment host) {
    public long size() {
        return host.byteSize();
    }

    public long end() {
        return guestAddress + host.byteSize();
    }

    public boolean contains(long gpa) {
        return gpa >= guestAddress && gpa - guestAddress < host.byteSize();
    }
}
