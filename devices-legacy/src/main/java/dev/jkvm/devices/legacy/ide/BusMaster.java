package dev.jkvm.devices.legacy.ide;

import dev.jkvm.memory.GuestMemory;
import dev.jkvm.vmm.device.BusDevice;

import java.util.function.BooleanSupplier;

/**
 * The PIIX3's bus-master IDE registers behind BAR4 (16 I/O ports): per channel, at +0 (primary)
 * and +8 (secondary), BMICOM (command: start/stop, direction), BMISTA (status: active, error,
 * interrupt, two DMA-capable flags) and BMIDTP (the PRD table address). Any access width works;
 * reserved bytes read 0.
 *
 * <p>A DMA command runs when both the device has asked for it and the guest has set the start
 * bit, in whichever order they come, and it runs to completion at once (the guest polls). The PRD
 * table is mapped and checked before any data moves; a table the controller cannot use, a
 * direction that does not match the command, or bus mastering being off in the PCI command
 * register ends the command with an error and sets the error bit. Outcomes follow the PIIX3
 * datasheet: the interrupt bit latches the device's interrupt; the active bit clears when the
 * table was used up exactly, and stays set when it described more than the transfer.
 */
final class BusMaster implements BusDevice {
    static final int SIZE = 16;
    static final int CHANNEL_STRIDE = 8;
    static final int REG_COMMAND = 0;
    static final int REG_STATUS = 2;
    static final int REG_PRD_TABLE = 4;

    static final int COMMAND_START = 0x01;
    /** RWCON: the controller writes guest memory (a device-to-host "read" command). */
    static final int COMMAND_TO_MEMORY = 0x08;

    static final int STATUS_ACTIVE = 0x01;
    static final int STATUS_ERROR = 0x02;
    static final int STATUS_INTERRUPT = 0x04;
    static final int STATUS_DMA_CAPABLE = 0x60;

    private final Object lock;
    private final GuestMemory memory;
    private final BooleanSupplier busMasterEnabled;
    final Channel[] channels = {new Channel(), new Channel()};

    BusMaster(Object lock, GuestMemory memory, BooleanSupplier busMasterEnabled) {
        this.lock = lock;
        this.memory = memory;
        this.busMasterEnabled = busMasterEnabled;
    }

    /** One channel's three registers and the transfer it runs. */
    final class Channel {
        private IdeChannel ide;
        int command;
        int status;
        int prdTable;
        /** Why the last DMA failed before moving data (null if it did not): for tests and logs. */
        String lastError;

        void connect(IdeChannel channel) {
            this.ide = channel;
        }

        boolean active() {
            return (status & STATUS_ACTIVE) != 0;
        }

        void deviceInterrupted() {
            status |= STATUS_INTERRUPT;
        }

        int readByte(int offset) {
            return switch (offset) {
                case REG_COMMAND -> command;
                case REG_STATUS -> status;
                case REG_PRD_TABLE, REG_PRD_TABLE + 1, REG_PRD_TABLE + 2, REG_PRD_TABLE + 3 ->
                        (prdTable >>> (8 * (offset - REG_PRD_TABLE))) & 0xff;
                default -> 0;
            };
        }

        void writeByte(int offset, int v) {
            switch (offset) {
                case REG_COMMAND -> writeCommand(v);
                case REG_STATUS -> status = (status & ~STATUS_DMA_CAPABLE & ~(v & (STATUS_ERROR | STATUS_INTERRUPT)))
                        | (v & STATUS_DMA_CAPABLE);
                case REG_PRD_TABLE, REG_PRD_TABLE + 1, REG_PRD_TABLE + 2, REG_PRD_TABLE + 3 -> {
                    int shift = 8 * (offset - REG_PRD_TABLE);
                    prdTable = ((prdTable & ~(0xff << shift)) | (v << shift)) & ~3;
                }
                default -> {
                    // reserved
                }
            }
        }

        private void writeCommand(int v) {
            int old = command;
            command = v & (COMMAND_START | COMMAND_TO_MEMORY);
            if ((v & COMMAND_START) != 0 && (old & COMMAND_START) == 0) {
                status |= STATUS_ACTIVE;
                ide.busMasterStarted();
            } else if ((v & COMMAND_START) == 0 && (old & COMMAND_START) != 0) {
                // Stopping the bus master abandons its transfer; a command still waiting for it stays
                // waiting (BSY and DRQ) until the guest starts it again or resets the device.
                status &= ~STATUS_ACTIVE;
            }
        }

        /** Runs a device's DMA data phase now: map the table, move the data, end the command. */
        void run(DmaRequest request) {
            lastError = null;
            String refused = null;
            if (!busMasterEnabled.getAsBoolean()) {
                refused = "bus mastering is disabled in the PCI command register";
            } else if (((command & COMMAND_TO_MEMORY) != 0) != request.toMemory()) {
                refused = "BMICOM direction does not match the command";
            }
            PrdTable.Result mapping = refused == null ? PrdTable.map(memory, Integer.toUnsignedLong(prdTable), request.bytes()) : null;
            if (mapping instanceof PrdTable.Invalid invalid) {
                refused = invalid.reason();
            }
            if (refused != null) {
                lastError = refused;
                status = (status | STATUS_ERROR) & ~STATUS_ACTIVE;
                request.finish(false);
                return;
            }
            PrdTable.Mapped m = (PrdTable.Mapped) mapping;
            boolean ok;
            try {
                ok = request.transfer(m.buffers(), m.count());
            } catch (RuntimeException e) {
                ok = false;
            }
            if (!m.leftOver()) {
                status &= ~STATUS_ACTIVE;
            }
            request.finish(ok);
        }

        void reset() {
            command = 0;
            status = 0;
            prdTable = 0;
            lastError = null;
        }
    }

    @Override
    public long read(long offset, int size) {
        synchronized (lock) {
            long v = 0;
            for (int i = 0; i < size && offset + i < SIZE; i++) {
                int at = (int) offset + i;
                v |= (long) channels[at / CHANNEL_STRIDE].readByte(at % CHANNEL_STRIDE) << (8 * i);
            }
            return v;
        }
    }

    @Override
    public void write(long offset, int size, long value) {
        synchronized (lock) {
            for (int i = 0; i < size && offset + i < SIZE; i++) {
                int at = (int) offset + i;
                channels[at / CHANNEL_STRIDE].writeByte(at % CHANNEL_STRIDE, (int) (value >>> (8 * i)) & 0xff);
            }
        }
    }
}
