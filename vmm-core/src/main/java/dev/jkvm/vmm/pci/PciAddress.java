package dev.jkvm.vmm.pci;

/** A function's place on bus 0: device (slot) 0-31, function 0-7; prints like lspci (00:03.0). */
public record PciAddress(int slot, int function) {
    public PciAddress {
        if (slot < 0 || slot > 31 || function < 0 || function > 7) {
            throw new IllegalArgumentException("bad PCI address " + slot + "." + function);
        }
    }

    @Override
    public String toString() {
        return String.format("00:%02x.%x", slot, function);
    }
}
