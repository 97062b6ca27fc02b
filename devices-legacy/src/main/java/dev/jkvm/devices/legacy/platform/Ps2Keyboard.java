package dev.jkvm.devices.legacy.platform;

/**
 * The PS/2 keyboard behind the i8042's first port: it answers the commands a driver probes with
 * and never produces scan codes (jkvm has no host keyboard input yet). Not thread-safe: the
 * controller calls it under its own lock.
 */
final class Ps2Keyboard {
    static final int CMD_SET_LEDS = 0xed;
    static final int CMD_ECHO = 0xee;
    static final int CMD_SCANCODE_SET = 0xf0;
    static final int CMD_IDENTIFY = 0xf2;
    static final int CMD_TYPEMATIC = 0xf3;
    static final int CMD_ENABLE = 0xf4;
    static final int CMD_DISABLE = 0xf5;
    static final int CMD_DEFAULTS = 0xf6;
    static final int CMD_RESEND = 0xfe;
    static final int CMD_RESET = 0xff;

    static final int ACK = 0xfa;
    static final int SELF_TEST_PASSED = 0xaa;
    static final int RESEND = 0xfe;
    /** An MF2 keyboard's identification, before the controller's translation. */
    static final int ID_1 = 0xab;
    static final int ID_2 = 0x83;

    private final Ps2OutputQueue out = new Ps2OutputQueue(ACK);
    private int pendingCommand;
    private boolean scanning = true;
    private int scancodeSet = 2;
    private int leds;
    private int typematic = 0x2b;

    void reset() {
        out.reset();
        pendingCommand = 0;
        defaults();
        scanning = true;
    }

    private void defaults() {
        scancodeSet = 2;
        leds = 0;
        typematic = 0x2b;
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

    /** A byte the host (through the controller) sends to the keyboard. */
    void write(int b) {
        if (pendingCommand != 0) {
            int command = pendingCommand;
            pendingCommand = 0;
            // A command byte where an argument belongs starts that command instead, as keyboards do.
            if (b < CMD_SET_LEDS) {
                argument(command, b);
                return;
            }
        }
        switch (b) {
            case CMD_SET_LEDS, CMD_TYPEMATIC, CMD_SCANCODE_SET -> {
                pendingCommand = b;
                send(ACK);
            }
            case CMD_ECHO -> send(CMD_ECHO);
            case CMD_IDENTIFY -> send(ACK, ID_1, ID_2);
            case CMD_ENABLE -> {
                scanning = true;
                send(ACK);
            }
            case CMD_DISABLE -> {
                scanning = false;
                defaults();
                send(ACK);
            }
            case CMD_DEFAULTS -> {
                defaults();
                send(ACK);
            }
            // Set-3 key type commands (all keys typematic, make/break, ...): accepted and ignored.
            case 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd -> send(ACK);
            case CMD_RESEND -> send(out.lastSent());
            case CMD_RESET -> {
                out.clear();
                pendingCommand = 0;
                defaults();
                scanning = true;
                send(ACK, SELF_TEST_PASSED);
            }
            default -> send(RESEND);
        }
    }

    private void argument(int command, int b) {
        switch (command) {
            case CMD_SET_LEDS -> {
                leds = b & 0x07;
                send(ACK);
            }
            case CMD_TYPEMATIC -> {
                typematic = b & 0x7f;
                send(ACK);
            }
            case CMD_SCANCODE_SET -> {
                if (b == 0) {
                    send(ACK, scancodeSet);
                } else if (b <= 3) {
                    scancodeSet = b;
                    send(ACK);
                } else {
                    send(RESEND);
                }
            }
            default -> send(RESEND);
        }
    }

    boolean scanning() {
        return scanning;
    }

    int leds() {
        return leds;
    }

    int scancodeSet() {
        return scancodeSet;
    }

    int typematic() {
        return typematic;
    }
}
