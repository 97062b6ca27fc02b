package dev.jkvm.devices.legacy.platform;

/**
 * A minimal PS/2 mouse behind the i8042's auxiliary port: a plain three-button mouse (ID 0) that
 * answers what Linux's psmouse probes with and never moves. Not thread-safe: the controller calls
 * it under its own lock.
 */
final class Ps2Mouse {
    static final int CMD_SCALING_1_1 = 0xe6;
    static final int CMD_SCALING_2_1 = 0xe7;
    static final int CMD_SET_RESOLUTION = 0xe8;
    static final int CMD_STATUS = 0xe9;
    static final int CMD_STREAM_MODE = 0xea;
    static final int CMD_READ_DATA = 0xeb;
    static final int CMD_RESET_WRAP = 0xec;
    static final int CMD_SET_WRAP = 0xee;
    static final int CMD_REMOTE_MODE = 0xf0;
    static final int CMD_GET_ID = 0xf2;
    static final int CMD_SAMPLE_RATE = 0xf3;
    static final int CMD_ENABLE = 0xf4;
    static final int CMD_DISABLE = 0xf5;
    static final int CMD_DEFAULTS = 0xf6;
    static final int CMD_RESEND = 0xfe;
    static final int CMD_RESET = 0xff;

    static final int ACK = 0xfa;
    static final int SELF_TEST_PASSED = 0xaa;
    static final int RESEND = 0xfe;
    static final int MOUSE_ID = 0x00;

    private final Ps2OutputQueue out = new Ps2OutputQueue(ACK);
    private int pendingCommand;
    private boolean enabled;
    private boolean remote;
    private boolean wrap;
    private boolean scaling21;
    private int resolution = 2;
    private int sampleRate = 100;

    void reset() {
        out.reset();
        pendingCommand = 0;
        defaults();
        remote = false;
        wrap = false;
    }

    private void defaults() {
        enabled = false;
        scaling21 = false;
        resolution = 2;
        sampleRate = 100;
    }

    boolean hasOutput() {
        return !out.isEmpty();
    }

    /** The next byte the device sends, or -1. */
    int take() {
        return out.take();
    }

    private void send(int... bytes) {
        out.send(bytes);
    }

    void write(int b) {
        if (pendingCommand != 0) {
            int command = pendingCommand;
            pendingCommand = 0;
            if (command == CMD_SET_RESOLUTION) {
                resolution = b & 3;
            } else {
                sampleRate = b;
            }
            send(ACK);
            return;
        }
        if (wrap && b != CMD_RESET_WRAP && b != CMD_RESET) {
            send(b);
            return;
        }
        switch (b) {
            case CMD_SCALING_1_1 -> {
                scaling21 = false;
                send(ACK);
            }
            case CMD_SCALING_2_1 -> {
                scaling21 = true;
                send(ACK);
            }
            case CMD_SET_RESOLUTION, CMD_SAMPLE_RATE -> {
                pendingCommand = b;
                send(ACK);
            }
            case CMD_STATUS -> send(ACK, (remote ? 0x40 : 0) | (enabled ? 0x20 : 0) | (scaling21 ? 0x10 : 0),
                    resolution, sampleRate);
            case CMD_STREAM_MODE -> {
                remote = false;
                send(ACK);
            }
            // One packet: no buttons, no motion (bit 3 is always set in the first byte).
            case CMD_READ_DATA -> send(ACK, 0x08, 0x00, 0x00);
            case CMD_RESET_WRAP -> {
                wrap = false;
                send(ACK);
            }
            case CMD_SET_WRAP -> {
                wrap = true;
                send(ACK);
            }
            case CMD_REMOTE_MODE -> {
                remote = true;
                send(ACK);
            }
            case CMD_GET_ID -> send(ACK, MOUSE_ID);
            case CMD_ENABLE -> {
                enabled = true;
                send(ACK);
            }
            case CMD_DISABLE -> {
                enabled = false;
                send(ACK);
            }
            case CMD_DEFAULTS -> {
                defaults();
                send(ACK);
            }
            case CMD_RESEND -> send(out.lastSent());
            case CMD_RESET -> {
                out.clear();
                reset();
                send(ACK, SELF_TEST_PASSED, MOUSE_ID);
            }
            default -> send(RESEND);
        }
    }

    boolean enabled() {
        return enabled;
    }

    int sampleRate() {
        return sampleRate;
    }
}
