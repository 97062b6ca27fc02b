package dev.jkvm.kvm;

/** KVM cannot be used on this host; the message is one line that says why and what to do. */
public final class KvmUnavailableException extends RuntimeException {
    public KvmUnavailableException(String message) {
        super(message, null, false, false);
    }
}
