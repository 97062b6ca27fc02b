package dev.jkvm.vmm;

/** A VM that this host's KVM cannot create as asked (too many vCPUs, say); the message is for the user. */
public final class VmConfigurationException extends IllegalArgumentException {
    public VmConfigurationException(String message) {
        super(message);
    }
}
