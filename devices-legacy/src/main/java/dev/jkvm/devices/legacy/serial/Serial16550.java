package dev.jkvm.devices.legacy.serial;

import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.device.InterruptLine;

/**
 * A 16550A UART: eight registers behind a base port, a 16-byte receive FIFO, loopback, and one
 * interrupt line. Transmission is instant, so THR is always empty again by the time the guest
 * looks, which is what the polled and interrupt-driven drivers both expect of an emulated port.
 *
 * <p>Register accesses arrive on vCPU threads and host input on a backend thread; one lock
 * guards all state, and the interrupt line is recomputed after every change.
 */
public final class Serial16550 implements BusDevice {
    public static final int COM1_BASE = 0x3f8;
    public static final int COM1_IRQ = 4;
    public static final int COM2_BASE = 0x2f8;
    public static final int COM2_IRQ = 3;
    public static final int REGISTER_COUNT = 8;

    static final int RBR_THR_DLL = 0;
    static final int IER_DLM = 1;
    static final int IIR_FCR = 2;
    static final int LCR = 3;
    static final int MCR = 4;
    static final int LSR = 5;
    static final int MSR = 6;
    static final int SCR = 7;

    static final int IER_RDA = 0x01;
    static final int IER_THRE = 0x02;
    static final int IER_RLS = 0x04;
    static final int IER_MSI = 0x08;

    static final int IIR_NONE = 0x01;
    static final int IIR_MSI = 0x00;
    static final int IIR_THRE = 0x02;
    static final int IIR_RDA = 0x04;
    static final int IIR_RLS = 0x06;
    static final int IIR_TIMEOUT = 0x0c;
    static final int IIR_FIFO_ENABLED = 0xc0;

    static final int FCR_ENABLE = 0x01;
    static final int FCR_CLEAR_RX = 0x02;

    static final int LCR_DLAB = 0x80;

    static final int MCR_DTR = 0x01;
    static final int MCR_RTS = 0x02;
    static final int MCR_OUT1 = 0x04;
    static final int MCR_OUT2 = 0x08;
    static final int MCR_LOOP = 0x10;

    static final int LSR_DR = 0x01;
    static final int LSR_OE = 0x02;
    static final int LSR_THRE = 0x20;
    static final int LSR_TEMT = 0x40;

    static final int MSR_CTS = 0x10;
    static final int MSR_DSR = 0x20;
    static final int MSR_RI = 0x40;
    static final int MSR_DCD = 0x80;

    private static final int FIFO_SIZE = 16;
    private static final int[] TRIGGER_LEVELS = {1, 4, 8, 14};

    private final InterruptLine irq;
    private final SerialBackend backend;
    private final byte[] rx = new byte[FIFO_SIZE];
    private int rxHead;
    private int rxCount;
    private int ier;
    private int lcr = 0x03;
    private int mcr = MCR_OUT2;
    private int scr;
    private int dll = 0x0c;
    private int dlm;
    private int fcr;
    private int msrDelta;
    private int lastRbr;
    private boolean overrun;
    private boolean thrInterrupt;
    private boolean irqLevel;

    public Serial16550(InterruptLine irq, SerialBackend backend) {
        this.irq = irq;
        this.backend = backend;
    }

    @Override
    public synchronized long read(long offset, int size) {
        if (size != 1) {
            // The UART's registers are bytes; wider accesses hit nothing, as on an ISA bus.
            return size >= 8 ? -1L : (1L << (8 * size)) - 1;
        }
        int value = switch ((int) offset) {
            case RBR_THR_DLL -> (lcr & LCR_DLAB) != 0 ? dll : readRbr();
            case IER_DLM -> (lcr & LCR_DLAB) != 0 ? dlm : ier;
            case IIR_FCR -> readIir();
            case LCR -> lcr;
            case MCR -> mcr;
            case LSR -> readLsr();
            case MSR -> readMsr();
            case SCR -> scr;
            default -> 0xff;
        };
        updateIrq();
        return value;
    }

    @Override
    public synchronized void write(long offset, int size, long value) {
        int v = (int) value & 0xff;
        switch ((int) offset) {
            case RBR_THR_DLL -> {
                if ((lcr & LCR_DLAB) != 0) {
                    dll = v;
                } else {
                    writeThr(v);
                }
            }
            case IER_DLM -> {
                if ((lcr & LCR_DLAB) != 0) {
                    dlm = v;
                } else {
                    int old = ier;
                    ier = v & 0x0f;
                    // Enabling the THRE interrupt while THR is empty raises it at once, as on hardware.
                    if ((ier & IER_THRE) != 0 && (old & IER_THRE) == 0) {
                        thrInterrupt = true;
                    }
                }
            }
            case IIR_FCR -> writeFcr(v);
            case LCR -> lcr = v;
            case MCR -> writeMcr(v & 0x1f);
            case SCR -> scr = v;
            default -> {
                // LSR and MSR are read-only
            }
        }
        updateIrq();
    }

    private boolean fifoEnabled() {
        return (fcr & FCR_ENABLE) != 0;
    }

    private boolean loopback() {
        return (mcr & MCR_LOOP) != 0;
    }

    private int capacity() {
        return fifoEnabled() ? FIFO_SIZE : 1;
    }

    private int readRbr() {
        if (rxCount > 0) {
            lastRbr = rx[rxHead] & 0xff;
            rxHead = (rxHead + 1) % FIFO_SIZE;
            rxCount--;
            if (rxCount < capacity()) {
                notifyAll();
            }
        }
        return lastRbr;
    }

    private void writeThr(int v) {
        if (loopback()) {
            push(v);
        } else {
            backend.write(v);
        }
        // Clearing then setting the THRE interrupt gives an edge-triggered PIC a fresh edge.
        thrInterrupt = false;
        updateIrq();
        thrInterrupt = true;
    }

    private void push(int v) {
        if (rxCount >= capacity()) {
            overrun = true;
            return;
        }
        rx[(rxHead + rxCount) % FIFO_SIZE] = (byte) v;
        rxCount++;
    }

    private int readIir() {
        int id = pendingInterrupt();
        if (id == IIR_THRE) {
            thrInterrupt = false;
        }
        return id | (fifoEnabled() ? IIR_FIFO_ENABLED : 0);
    }

    private int readLsr() {
        int lsr = LSR_THRE | LSR_TEMT | (rxCount > 0 ? LSR_DR : 0) | (overrun ? LSR_OE : 0);
        overrun = false;
        return lsr;
    }

    private int modemStatus() {
        if (loopback()) {
            return ((mcr & MCR_RTS) != 0 ? MSR_CTS : 0) | ((mcr & MCR_DTR) != 0 ? MSR_DSR : 0)
                    | ((mcr & MCR_OUT1) != 0 ? MSR_RI : 0) | ((mcr & MCR_OUT2) != 0 ? MSR_DCD : 0);
        }
        return MSR_CTS | MSR_DSR | MSR_DCD;
    }

    private int readMsr() {
        int value = modemStatus() | msrDelta;
        msrDelta = 0;
        return value;
    }

    private void writeFcr(int v) {
        boolean wasEnabled = fifoEnabled();
        if (((v & FCR_ENABLE) != 0) != wasEnabled || (v & FCR_CLEAR_RX) != 0) {
            rxHead = 0;
            rxCount = 0;
            notifyAll();
        }
        fcr = v & 0xc9;
    }

    private void writeMcr(int v) {
        int before = modemStatus();
        mcr = v;
        int after = modemStatus();
        int changed = before ^ after;
        if ((changed & MSR_CTS) != 0) {
            msrDelta |= 0x01;
        }
        if ((changed & MSR_DSR) != 0) {
            msrDelta |= 0x02;
        }
        if ((before & MSR_RI) != 0 && (after & MSR_RI) == 0) {
            msrDelta |= 0x04;
        }
        if ((changed & MSR_DCD) != 0) {
            msrDelta |= 0x08;
        }
        notifyAll();
    }

    private int pendingInterrupt() {
        if ((ier & IER_RLS) != 0 && overrun) {
            return IIR_RLS;
        }
        if ((ier & IER_RDA) != 0 && rxCount > 0) {
            return fifoEnabled() && rxCount < TRIGGER_LEVELS[(fcr >>> 6) & 3] ? IIR_TIMEOUT : IIR_RDA;
        }
        if ((ier & IER_THRE) != 0 && thrInterrupt) {
            return IIR_THRE;
        }
        if ((ier & IER_MSI) != 0 && msrDelta != 0) {
            return IIR_MSI;
        }
        return IIR_NONE;
    }

    private void updateIrq() {
        boolean level = pendingInterrupt() != IIR_NONE;
        if (level != irqLevel) {
            irqLevel = level;
            irq.set(level);
        }
    }

    /** A machine reset: registers to their power-on values, the receive FIFO emptied, the line low. */
    public synchronized void reset() {
        rxHead = 0;
        rxCount = 0;
        ier = 0;
        lcr = 0x03;
        mcr = MCR_OUT2;
        scr = 0;
        dll = 0x0c;
        dlm = 0;
        fcr = 0;
        msrDelta = 0;
        lastRbr = 0;
        overrun = false;
        thrInterrupt = false;
        updateIrq();
        notifyAll();
    }

    /**
     * Host input: takes as many bytes as the receive FIFO has room for and returns how many.
     * While the UART is in loopback its receiver is cut off from the line, so it takes none.
     */
    public synchronized int receive(byte[] data, int off, int len) {
        if (loopback()) {
            return 0;
        }
        int n = 0;
        while (n < len && rxCount < capacity()) {
            push(data[off + n] & 0xff);
            n++;
        }
        if (n > 0) {
            updateIrq();
        }
        return n;
    }

    /** Waits until the FIFO can take a byte, or the timeout passes; true when there is room. */
    public synchronized boolean awaitRoom(long timeoutMillis) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (loopback() || rxCount >= capacity()) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                return false;
            }
            wait(left);
        }
        return true;
    }
}
