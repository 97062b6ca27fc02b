package dev.jkvm.devices.legacy.ide;

import dev.jkvm.backends.block.BlockImage;
import dev.jkvm.devices.legacy.pci.I440fxHostBridge;
import dev.jkvm.memory.GuestMemory;
import dev.jkvm.vmm.DeviceBus;
import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.device.InterruptLine;
import dev.jkvm.vmm.pci.BarKind;
import dev.jkvm.vmm.pci.PciConfiguration;
import dev.jkvm.vmm.pci.PciFunction;

import java.lang.foreign.Arena;

/**
 * The PIIX3 IDE controller, PCI function 00:01.1 (8086:7010, class 0101h, programming interface
 * 80h: bus master, both channels in compatibility mode). Each channel decodes the legacy ports
 * (primary 1F0h-1F7h and 3F6h on IRQ 14, secondary 170h-177h and 376h on IRQ 15) and holds up to
 * two devices, ATA disks or ATAPI CD-ROMs; BAR4 is the 16-byte bus-master register block.
 *
 * <p>As in QEMU, the legacy ports decode whatever the IDE timing registers (40h-43h) and the
 * PCI command register say; the timing registers are plain storage the firmware sets to "decode
 * enable" as SeaBIOS does. Bus-master DMA needs the bus-master bit in the PCI command register,
 * which the firmware leaves to the guest's driver.
 *
 * <p>One lock (this object) guards both channels and the bus-master registers: port accesses,
 * DMA and PIO data all run on vCPU threads under it, image I/O included (see {@link AtaDisk}).
 */
public final class PiixIde implements PciFunction {
    public static final int DEVICE_PIIX3_IDE = 0x7010;
    /** Mass storage, IDE, programming interface 80h: bus-master capable, legacy ports on both channels. */
    public static final int CLASS_CODE = 0x010180;
    public static final int PRIMARY_COMMAND_BASE = 0x1f0;
    public static final int PRIMARY_CONTROL_PORT = 0x3f6;
    public static final int PRIMARY_IRQ = 14;
    public static final int SECONDARY_COMMAND_BASE = 0x170;
    public static final int SECONDARY_CONTROL_PORT = 0x376;
    public static final int SECONDARY_IRQ = 15;
    public static final int BUS_MASTER_BAR = 4;
    public static final int CHANNELS = 2;
    public static final int UNITS = 2;

    /** IDE timing registers, primary and secondary (16 bits each); bit 15 enables decoding. */
    static final int IDETIM = 0x40;
    static final int SIDETIM = 0x44;
    static final int IDETIM_DECODE_ENABLE = 0x8000;
    static final int STATUS_DEFAULT = 0x0280;      // fast back-to-back capable, medium DEVSEL timing
    /** QEMU's subsystem IDs for its PC devices (Red Hat, QEMU), as the host bridge uses them. */
    static final int SUBSYSTEM_VENDOR = 0x1af4;
    static final int SUBSYSTEM_ID = 0x1100;

    private final PciConfiguration config = new PciConfiguration(I440fxHostBridge.VENDOR_INTEL, DEVICE_PIIX3_IDE, CLASS_CODE, 0x00,
            SUBSYSTEM_VENDOR, SUBSYSTEM_ID);
    private final Arena arena = Arena.ofShared();
    private final BusMaster busMaster;
    private final IdeChannel[] channels = new IdeChannel[CHANNELS];
    private boolean closed;
    private boolean firmwareSetUp;

    public PiixIde(GuestMemory memory, InterruptLine primaryIrq, InterruptLine secondaryIrq) {
        config.set16(PciConfiguration.STATUS, STATUS_DEFAULT);
        config.addBar(BUS_MASTER_BAR, BarKind.IO, BusMaster.SIZE, false);
        config.setWritable(IDETIM, 4, 0xffffffffL);
        config.setWritable(SIDETIM, 1, 0xff);
        busMaster = new BusMaster(this, memory, () -> (config.get16(PciConfiguration.COMMAND) & PciConfiguration.COMMAND_BUS_MASTER) != 0);
        InterruptLine[] irqs = {primaryIrq, secondaryIrq};
        for (int i = 0; i < CHANNELS; i++) {
            channels[i] = new IdeChannel(i, this, irqs[i], busMaster.channels[i], arena.allocate(IdeChannel.BUFFER_BYTES, 4096));
            busMaster.channels[i].connect(channels[i]);
        }
    }

    /** The command block (eight ports) of a channel. */
    public BusDevice commandBlock(int channel) {
        return channels[channel].commandBlock;
    }

    /** The device control / alternate status port of a channel. */
    public BusDevice controlBlock(int channel) {
        return channels[channel].controlBlock;
    }

    /** Puts both channels' legacy ports on the PIO bus. */
    public void registerLegacyPorts(DeviceBus pio) {
        pio.register(PRIMARY_COMMAND_BASE, Ata.COMMAND_BLOCK_SIZE, "ide0", commandBlock(0));
        pio.register(PRIMARY_CONTROL_PORT, 1, "ide0-control", controlBlock(0));
        pio.register(SECONDARY_COMMAND_BASE, Ata.COMMAND_BLOCK_SIZE, "ide1", commandBlock(1));
        pio.register(SECONDARY_CONTROL_PORT, 1, "ide1-control", controlBlock(1));
    }

    /**
     * Attaches a hard disk; the device owns the image from now on (closing the controller closes it).
     *
     * @param writeCache whether the drive starts with its volatile write cache on (IDENTIFY word 85)
     * @param serial     IDENTIFY serial number (up to 20 characters); null for "JK0000n", n the position
     */
    public synchronized void attachDisk(int channel, int unit, BlockImage image, boolean writeCache, String serial) {
        check(channel, unit);
        if (image.readOnly()) {
            throw new IllegalArgumentException("an IDE hard disk cannot be read-only");
        }
        channels[channel].attach(new AtaDisk(channels[channel], unit, image, writeCache, "JKVM HARDDISK",
                serial(serial, channel, unit), "1.0"));
    }

    /** Attaches an ATAPI CD-ROM drive with this (read-only) medium; the device owns the image. */
    public synchronized void attachCdrom(int channel, int unit, BlockImage image, String serial) {
        check(channel, unit);
        channels[channel].attach(new AtapiCdrom(channels[channel], unit, image, "JKVM CD-ROM", serial(serial, channel, unit), "1.0"));
    }

    private void check(int channel, int unit) {
        if (channel < 0 || channel >= CHANNELS || unit < 0 || unit >= UNITS) {
            throw new IllegalArgumentException("no IDE position bus=" + channel + " unit=" + unit);
        }
        if (channels[channel].device(unit) != null) {
            throw new IllegalArgumentException("IDE bus=" + channel + " unit=" + unit + " is already in use");
        }
    }

    private static String serial(String given, int channel, int unit) {
        String s = given != null ? given : String.format("JK%05d", channel * UNITS + unit + 1);
        return s.length() > 20 ? s.substring(0, 20) : s;
    }

    /**
     * What SeaBIOS leaves in the function before the OS runs: both channels' decode-enable bit in
     * the timing registers and SERR# enabled in the command register (the firmware's BAR
     * assignment adds I/O and memory decoding: 0103h in all, bus mastering off).
     */
    public synchronized void firmwareSetup() {
        firmwareSetUp = true;
        config.set16(IDETIM, IDETIM_DECODE_ENABLE);
        config.set16(IDETIM + 2, IDETIM_DECODE_ENABLE);
        config.set16(PciConfiguration.COMMAND, config.get16(PciConfiguration.COMMAND) | 0x0100);
    }

    /**
     * A machine reset (the bus has restored configuration space): both channels, their devices and
     * the bus master back to power-on state, and the firmware's set-up again if it had been done.
     */
    @Override
    public synchronized void reset() {
        for (int i = 0; i < CHANNELS; i++) {
            busMaster.channels[i].reset();
            channels[i].hardReset();
        }
        if (firmwareSetUp) {
            firmwareSetup();
        }
    }

    // ---- for tests ----

    IdeChannel channel(int i) {
        return channels[i];
    }

    BusMaster busMaster() {
        return busMaster;
    }

    // ---- PciFunction ----

    @Override
    public String name() {
        return "piix3-ide";
    }

    @Override
    public PciConfiguration configuration() {
        return config;
    }

    @Override
    public synchronized long readConfig(int offset, int size) {
        return config.read(offset, size);
    }

    @Override
    public synchronized void writeConfig(int offset, int size, long value) {
        config.write(offset, size, value);
    }

    @Override
    public BusDevice bar(int index) {
        return index == BUS_MASTER_BAR ? busMaster : null;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (IdeChannel c : channels) {
            c.close();
        }
        arena.close();
    }
}
