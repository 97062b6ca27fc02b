package dev.jkvm.bench;

/** Which exit the exit-cost guest makes in its loop. */
enum ExitKind {
    /** {@code out imm8, al}: KVM_EXIT_IO, direction out, size 1. */
    PIO,
    /** {@code mov eax, [rbx]} on an address no memory slot covers: KVM_EXIT_MMIO, a 4-byte read. */
    MMIO;

    String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
