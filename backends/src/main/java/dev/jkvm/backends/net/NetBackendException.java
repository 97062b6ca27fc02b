package dev.jkvm.backends.net;

/** A network backend that cannot be opened or used: no permission, a busy name, a refused connection. One line for the user. */
public final class NetBackendException extends RuntimeException {
    public NetBackendException(String message) {
        super(message, null, false, false);
    }
}
