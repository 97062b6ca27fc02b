package dev.jkvm.vmm.device;

/**
 * What a device implements to answer guest port I/O or MMIO on one address range. The bus calls it
 * only for accesses that lie wholly inside the range it was registered for; {@code offset} is
 * relative to the start of that range and {@code size} is 1, 2, 4 or 8 (MMIO may also give 3, 5, 6
 * or 7 from odd instructions). Values are little-endian and zero-extended into the long.
 *
 * <p>Calls come from vCPU threads, several at once on SMP guests. A device that throws is treated
 * as broken for that access: the bus counts it and the vCPU carries on.
 */
public interface BusDevice {
    long read(long offset, int size);

    void write(long offset, int size, long value);
}
