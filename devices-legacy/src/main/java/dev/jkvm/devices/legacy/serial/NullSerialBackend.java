package dev.jkvm.devices.legacy.serial;

/** -serial null: output vanishes and no input ever arrives. */
public final class NullSerialBackend implements SerialBackend {
    @Override
    public void write(int b) {
    }

    @Override
    public void close() {
    }
}
