package dev.jkvm.vmm.device;

/**
 * An interrupt controller input a device drives: an ISA IRQ or a PCI INTx pin after routing.
 * Edge-triggered sources raise and lower it; level-triggered ones hold it while they need service.
 */
public interface InterruptLine {
    void set(boolean level);

    /** A rising then falling edge, for edge-triggered sources. */
    default void pulse() {
        set(true);
        set(false);
    }
}
