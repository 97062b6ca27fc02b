package dev.jkvm.vmm.device;

/** Hands out MSI vectors; the VM implements it with KVM GSI routing and irqfd. */
public interface MsiController {
    MsiVector allocate(String owner);
}
