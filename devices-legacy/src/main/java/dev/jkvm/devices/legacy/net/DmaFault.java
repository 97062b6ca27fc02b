package dev.jkvm.devices.legacy.net;

/**
 * The guest gave the device a ring or buffer it cannot use (outside guest RAM, an index beyond
 * the ring): the ring goes into the error state. Checked, so every path that touches guest memory
 * for a descriptor says what it does with it.
 */
final class DmaFault extends Exception {
    DmaFault(String reason) {
        super(reason, null, false, false);
    }
}
