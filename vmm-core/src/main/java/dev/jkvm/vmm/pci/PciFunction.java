package dev.jkvm.vmm.pci;

import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.device.InterruptLine;

/**
 * What a PCI device model implements. The bus owns configuration cycles, BAR placement and INTx
 * routing; the function supplies its configuration space, a handler per BAR, and reacts to the
 * guest reprogramming it.
 */
public interface PciFunction {
    String name();

    PciConfiguration configuration();

    /** The handler for BAR {@code index}, with offsets relative to the BAR's base; null if not implemented. */
    BusDevice bar(int index);

    /** A guest configuration read; override for registers computed on read. */
    default long readConfig(int offset, int size) {
        return configuration().read(offset, size);
    }

    /** A guest configuration write; override to watch registers. The bus remaps BARs afterwards. */
    default void writeConfig(int offset, int size, long value) {
        configuration().write(offset, size, value);
    }

    /** Once placed on the bus: its address and the INTx line its interrupt pin is routed through. */
    default void attached(PciAddress address, InterruptLine intx) {
    }

    /** BAR {@code index} now decodes at {@code address} (mapped) or not at all. */
    default void barMoved(int index, long address, boolean mapped) {
    }

    /**
     * A PCI reset (the machine reset): the bus has already put configuration space back to its
     * power-on bytes; the function puts back whatever else it holds (queues, tables, timers).
     */
    default void reset() {
    }

    /** Releases threads, files and interrupt vectors when the machine goes away. */
    default void close() {
    }
}
