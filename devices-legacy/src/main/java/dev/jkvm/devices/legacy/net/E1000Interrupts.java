package dev.jkvm.devices.legacy.net;

import dev.jkvm.vmm.device.InterruptLine;

import static dev.jkvm.devices.legacy.net.E1000Registers.ICR_VALID;

/**
 * ICR, ICS, IMS and IMC and the INTA# level they make: the line is asserted while a cause is both
 * pending and enabled ((ICR & IMS) != 0) and the PCI command register does not disable INTx.
 * Reading ICR returns the causes and clears them; writing ICR clears the bits written; ICS sets
 * causes (and reads back as ICR does, without clearing it, as real parts do); IMS enables causes
 * and reads the mask; IMC disables them.
 *
 * <p>Interrupt moderation (ITR, RDTR/RADV, TIDV/TADV) is not modelled: a cause is raised as soon as
 * the event happens. Not thread-safe: the device calls it under its lock, so the line's level
 * changes in the same order as the causes.
 */
final class E1000Interrupts {
    private InterruptLine line = level -> { };
    private int icr;
    private int ims;
    private boolean intxDisabled;
    private boolean level;

    void attach(InterruptLine intx) {
        this.line = intx;
        level = false;
        update();
    }

    void raise(int causes) {
        icr |= causes & ICR_VALID;
        update();
    }

    /** ICR: the pending causes, cleared by the read. */
    int readIcr() {
        int v = icr;
        icr = 0;
        update();
        return v;
    }

    int pending() {
        return icr;
    }

    /** A write to ICR: write 1 to clear. */
    void clear(int causes) {
        icr &= ~causes;
        update();
    }

    int mask() {
        return ims;
    }

    /** A write to IMS. */
    void enable(int causes) {
        ims |= causes & ICR_VALID;
        update();
    }

    /** A write to IMC. */
    void disable(int causes) {
        ims &= ~causes;
        update();
    }

    /** The PCI command register's Interrupt Disable bit. */
    void setIntxDisabled(boolean disabled) {
        intxDisabled = disabled;
        update();
    }

    boolean asserted() {
        return level;
    }

    /** No cause pending or enabled; the line drops. */
    void reset() {
        icr = 0;
        ims = 0;
        update();
    }

    private void update() {
        boolean l = (icr & ims) != 0 && !intxDisabled;
        if (l != level) {
            level = l;
            line.set(l);
        }
    }
}
