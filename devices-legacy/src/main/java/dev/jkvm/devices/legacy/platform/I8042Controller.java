package dev.jkvm.devices.legacy.platform;

import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.device.InterruptLine;
import dev.jkvm.vmm.device.VmControl;

import java.util.ArrayDeque;

/**
 * The Intel 8042 keyboard controller: data port 0x60, status/command port 0x64, a PS/2 keyboard
 * on IRQ 1 and a PS/2 mouse (the auxiliary port) on IRQ 12. Enough of it for a driver's probe
 * (Linux's i8042 and atkbd/psmouse) to find a working controller and both devices, and for the
 * guest to reset the machine through it (command 0xFE, or output port bit 0).
 *
 * <p>One output buffer: bytes from the controller itself (command replies, 0xD2/0xD3 echoes) go
 * first, then the keyboard's, then the mouse's, each device's only while its port is enabled in
 * the command byte. Reading the buffer drops the interrupt line and raises it again if another
 * byte follows, so an edge-triggered PIC sees every byte. Replies are instant: IBF never shows.
 *
 * <p>Accesses come from vCPU threads; one lock guards all state. A reset request is made after
 * the lock is released.
 */
public final class I8042Controller {
    public static final int DATA_PORT = 0x60;
    public static final int STATUS_COMMAND_PORT = 0x64;
    public static final int KEYBOARD_IRQ = 1;
    public static final int AUX_IRQ = 12;

    static final int STATUS_OBF = 0x01;
    static final int STATUS_IBF = 0x02;
    static final int STATUS_SYS = 0x04;
    static final int STATUS_COMMAND = 0x08;
    static final int STATUS_UNLOCKED = 0x10;
    static final int STATUS_AUX_OBF = 0x20;

    static final int CCB_KBD_INT = 0x01;
    static final int CCB_AUX_INT = 0x02;
    static final int CCB_SYS = 0x04;
    static final int CCB_KBD_DISABLE = 0x10;
    static final int CCB_AUX_DISABLE = 0x20;
    static final int CCB_XLATE = 0x40;

    static final int CMD_READ_RAM = 0x20;
    static final int CMD_WRITE_RAM = 0x60;
    static final int CMD_AUX_DISABLE = 0xa7;
    static final int CMD_AUX_ENABLE = 0xa8;
    static final int CMD_AUX_TEST = 0xa9;
    static final int CMD_SELF_TEST = 0xaa;
    static final int CMD_KBD_TEST = 0xab;
    static final int CMD_KBD_DISABLE = 0xad;
    static final int CMD_KBD_ENABLE = 0xae;
    static final int CMD_READ_INPUT = 0xc0;
    static final int CMD_READ_OUTPUT = 0xd0;
    static final int CMD_WRITE_OUTPUT = 0xd1;
    static final int CMD_WRITE_KBD_BUFFER = 0xd2;
    static final int CMD_WRITE_AUX_BUFFER = 0xd3;
    static final int CMD_WRITE_AUX = 0xd4;
    static final int CMD_DISABLE_A20 = 0xdd;
    static final int CMD_ENABLE_A20 = 0xdf;
    static final int CMD_READ_TEST_INPUTS = 0xe0;
    static final int CMD_PULSE_FIRST = 0xf0;
    static final int CMD_RESET = 0xfe;

    static final int SELF_TEST_OK = 0x55;
    static final int INTERFACE_OK = 0x00;

    /** Output port: bit 0 is the CPU reset line (0 = held in reset), bit 1 the A20 gate. */
    static final int OUT_RESET = 0x01;
    static final int OUT_A20 = 0x02;
    static final int OUT_OBF = 0x10;
    static final int OUT_AUX_OBF = 0x20;
    /** The output port bits that are plain storage (clock and data lines, unused pins). */
    static final int OUT_OTHER = 0xcc;

    /** The command byte SeaBIOS leaves: translation on, mouse port off, keyboard interrupt on. */
    static final int FIRMWARE_CCB = CCB_XLATE | CCB_AUX_DISABLE | CCB_KBD_INT;

    private static final int SOURCE_KBD = 0;
    private static final int SOURCE_AUX = 1;
    private static final int CONTROLLER_QUEUE_LIMIT = 16;

    private final InterruptLine keyboardIrq;
    private final InterruptLine auxIrq;
    private final VmControl vm;
    private final Ps2Keyboard keyboard = new Ps2Keyboard();
    private final Ps2Mouse mouse = new Ps2Mouse();
    /** Controller-made bytes waiting for the output buffer: value | source << 8. */
    private final ArrayDeque<Integer> controllerQueue = new ArrayDeque<>();
    /** The 32 bytes of controller RAM; byte 0 is the command byte. */
    private final int[] ram = new int[32];
    private int status;
    private int outputPort;
    private int pendingCommand;
    private boolean outputFull;
    private boolean outputFromAux;
    private int outputByte;
    private boolean keyboardLevel;
    private boolean auxLevel;

    private final BusDevice dataPort = new BusDevice() {
        @Override
        public long read(long offset, int size) {
            return readData();
        }

        @Override
        public void write(long offset, int size, long value) {
            writeData((int) value & 0xff);
        }
    };

    private final BusDevice commandPort = new BusDevice() {
        @Override
        public long read(long offset, int size) {
            return readStatus();
        }

        @Override
        public void write(long offset, int size, long value) {
            writeCommand((int) value & 0xff);
        }
    };

    public I8042Controller(InterruptLine keyboardIrq, InterruptLine auxIrq, VmControl vm) {
        this.keyboardIrq = keyboardIrq;
        this.auxIrq = auxIrq;
        this.vm = vm;
        reset();
    }

    /** Port 0x60 (one byte). */
    public BusDevice dataPort() {
        return dataPort;
    }

    /** Port 0x64 (one byte): status on read, controller command on write. */
    public BusDevice commandPort() {
        return commandPort;
    }

    /** The state firmware leaves before the guest runs: self-tested, keyboard enabled, mouse off. */
    public synchronized void reset() {
        controllerQueue.clear();
        keyboard.reset();
        mouse.reset();
        java.util.Arrays.fill(ram, 0);
        ram[0] = FIRMWARE_CCB;
        status = STATUS_SYS | STATUS_UNLOCKED;
        outputPort = OUT_RESET | OUT_A20 | OUT_OTHER;
        pendingCommand = 0;
        outputFull = false;
        outputFromAux = false;
        outputByte = 0;
        updateIrq();
    }

    synchronized int readStatus() {
        int s = status & ~(STATUS_OBF | STATUS_AUX_OBF | STATUS_IBF);
        if (outputFull) {
            s |= STATUS_OBF | (outputFromAux ? STATUS_AUX_OBF : 0);
        }
        return s;
    }

    synchronized int readData() {
        int value = outputByte;
        if (outputFull) {
            outputFull = false;
            // Drop the line first: if another byte follows at once, the PIC still sees a new edge.
            updateIrq();
            refill();
        }
        return value;
    }

    void writeData(int value) {
        String reset;
        synchronized (this) {
            status &= ~STATUS_COMMAND;
            int command = pendingCommand;
            pendingCommand = 0;
            reset = command != 0 ? commandArgument(command, value) : toKeyboard(value);
            refill();
        }
        if (reset != null) {
            vm.reset(reset);
        }
    }

    void writeCommand(int command) {
        String reset;
        synchronized (this) {
            status |= STATUS_COMMAND;
            pendingCommand = 0;
            reset = command(command);
            refill();
        }
        if (reset != null) {
            vm.reset(reset);
        }
    }

    private String toKeyboard(int value) {
        keyboard.write(value);
        return null;
    }

    /** Runs a controller command; returns a reset reason when it pulses the reset line. */
    private String command(int command) {
        if (command >= CMD_READ_RAM && command < CMD_READ_RAM + ram.length) {
            reply(ram[command - CMD_READ_RAM]);
            return null;
        }
        if (command >= CMD_WRITE_RAM && command < CMD_WRITE_RAM + ram.length) {
            pendingCommand = command;
            return null;
        }
        if (command >= CMD_PULSE_FIRST) {
            // 0xF0-0xFF pulse output port bits 0-3 for each 0 bit in the low nibble; bit 0 is reset.
            return (command & 1) == 0 ? String.format("i8042 reset (command 0x%02x)", command) : null;
        }
        switch (command) {
            case CMD_AUX_DISABLE -> ccb(ram[0] | CCB_AUX_DISABLE);
            case CMD_AUX_ENABLE -> ccb(ram[0] & ~CCB_AUX_DISABLE);
            case CMD_AUX_TEST, CMD_KBD_TEST -> reply(INTERFACE_OK);
            case CMD_SELF_TEST -> {
                status |= STATUS_SYS;
                reply(SELF_TEST_OK);
            }
            case CMD_KBD_DISABLE -> ccb(ram[0] | CCB_KBD_DISABLE);
            case CMD_KBD_ENABLE -> ccb(ram[0] & ~CCB_KBD_DISABLE);
            // Input port: keyboard not inhibited (bit 7), colour display, no jumpers.
            case CMD_READ_INPUT -> reply(0x80);
            case CMD_READ_OUTPUT -> reply(outputPortValue());
            case CMD_WRITE_OUTPUT, CMD_WRITE_KBD_BUFFER, CMD_WRITE_AUX_BUFFER, CMD_WRITE_AUX -> pendingCommand = command;
            case CMD_DISABLE_A20 -> outputPort &= ~OUT_A20;
            case CMD_ENABLE_A20 -> outputPort |= OUT_A20;
            case CMD_READ_TEST_INPUTS -> reply(0x00);
            default -> {
                // Vendor commands (version, password, ...) are ignored, as on controllers without them.
            }
        }
        return null;
    }

    private String commandArgument(int command, int value) {
        if (command >= CMD_WRITE_RAM && command < CMD_WRITE_RAM + ram.length) {
            if (command == CMD_WRITE_RAM) {
                ccb(value);
            } else {
                ram[command - CMD_WRITE_RAM] = value;
            }
            return null;
        }
        switch (command) {
            case CMD_WRITE_OUTPUT -> {
                outputPort = value & ~(OUT_OBF | OUT_AUX_OBF);
                if ((value & OUT_RESET) == 0) {
                    outputPort |= OUT_RESET;
                    return String.format("i8042 reset (output port 0x%02x)", value);
                }
            }
            case CMD_WRITE_KBD_BUFFER -> queue(value, SOURCE_KBD);
            case CMD_WRITE_AUX_BUFFER -> queue(value, SOURCE_AUX);
            case CMD_WRITE_AUX -> mouse.write(value);
            default -> {
            }
        }
        return null;
    }

    private void ccb(int value) {
        ram[0] = value & 0xff;
        if ((value & CCB_SYS) != 0) {
            status |= STATUS_SYS;
        }
        updateIrq();
    }

    private int outputPortValue() {
        int v = outputPort & ~(OUT_OBF | OUT_AUX_OBF);
        if (outputFull) {
            v |= outputFromAux ? OUT_AUX_OBF : OUT_OBF;
        }
        return v;
    }

    private void reply(int value) {
        queue(value, SOURCE_KBD);
    }

    private void queue(int value, int source) {
        if (controllerQueue.size() < CONTROLLER_QUEUE_LIMIT) {
            controllerQueue.add((value & 0xff) | source << 8);
        }
    }

    /** Moves the next waiting byte into an empty output buffer. */
    private void refill() {
        if (outputFull) {
            return;
        }
        Integer c = controllerQueue.poll();
        if (c != null) {
            load(c & 0xff, (c >>> 8) == SOURCE_AUX);
        } else if ((ram[0] & CCB_KBD_DISABLE) == 0 && keyboard.hasOutput()) {
            load(translate(keyboard.take()), false);
        } else if ((ram[0] & CCB_AUX_DISABLE) == 0 && mouse.hasOutput()) {
            load(mouse.take(), true);
        }
        updateIrq();
    }

    private void load(int value, boolean aux) {
        outputByte = value;
        outputFromAux = aux;
        outputFull = true;
    }

    /**
     * Set-2 to set-1 translation (command byte bit 6). The keyboard never sends scan codes here,
     * so only the bytes it can send matter: the second ID byte and scan-code-set numbers, which
     * hardware translates as the set-2 codes they are; 0x80 and up pass unchanged.
     */
    private int translate(int b) {
        if ((ram[0] & CCB_XLATE) == 0) {
            return b;
        }
        return switch (b) {
            case 0x01 -> 0x43;
            case 0x02 -> 0x41;
            case 0x03 -> 0x3f;
            case Ps2Keyboard.ID_2 -> 0x41;
            default -> b;
        };
    }

    private void updateIrq() {
        boolean kbd = outputFull && !outputFromAux && (ram[0] & CCB_KBD_INT) != 0;
        boolean aux = outputFull && outputFromAux && (ram[0] & CCB_AUX_INT) != 0;
        if (kbd != keyboardLevel) {
            keyboardLevel = kbd;
            keyboardIrq.set(kbd);
        }
        if (aux != auxLevel) {
            auxLevel = aux;
            auxIrq.set(aux);
        }
    }

    /** The command byte (controller RAM byte 0). */
    public synchronized int commandByte() {
        return ram[0];
    }
}
