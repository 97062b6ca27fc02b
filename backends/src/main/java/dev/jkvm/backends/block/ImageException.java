package dev.jkvm.backends.block;

/** An image that cannot be used: missing, locked, unreadable, a bad size. One line for the user. */
public final class ImageException extends RuntimeException {
    public ImageException(String message) {
        super(message, null, false, false);
    }
}
