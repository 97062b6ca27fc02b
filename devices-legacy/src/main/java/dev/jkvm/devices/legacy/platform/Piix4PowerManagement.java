package dev.jkvm.devices.legacy.platform;

import dev.jkvm.vmm.DeviceBus;
import dev.jkvm.vmm.device.BusDevice;
import dev.jkvm.vmm.device.InterruptLine;
import dev.jkvm.vmm.device.VmControl;
import dev.jkvm.vmm.pci.PciConfiguration;
import dev.jkvm.vmm.pci.PciFunction;

import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * The PIIX4 power-management function (00:01.3 on QEMU's "pc" machine, 8086:7113 rev 03): the
 * ACPI fixed hardware a guest's OSPM drives. Its 64-byte PM I/O block sits where the guest
 * programs PMBA (config 0x40) and decodes only while PMREGMISC (config 0x80) bit 0 is set; the
 * function moves its claim on the port bus as the guest reprograms them.
 *
 * <p>In the block: PM1_STS (+0, write 1 to clear), PM1_EN (+2), PM1_CNT (+4; SLP_EN with SLP_TYP 0
 * powers the VM off), PM_TMR (+8, 24 bits at 3.579545 MHz from {@link System#nanoTime()}).
 * Outside it, at fixed ports as on QEMU: the GPE0 block ({@link AcpiHardware#GPE0_BLK}) and the
 * APM/SMI command port 0xB2 (0xF1 enables ACPI mode, i.e. sets SCI_EN; there is no SMM).
 * The SCI is its own line (IRQ 9), high while an enabled status bit is set; the function never
 * asserts INTx, although its interrupt pin register reads 1 as on QEMU.
 *
 * <p>See {@link AcpiHardware} for the addresses the firmware tables must describe.
 */
public final class Piix4PowerManagement implements PciFunction {
    public static final int VENDOR_INTEL = 0x8086;
    public static final int DEVICE_PIIX4_PM = 0x7113;
    static final int REVISION = 0x03;
    static final int CLASS_BRIDGE_OTHER = 0x068000;
    static final int SUBSYSTEM_VENDOR = 0x1af4;
    static final int SUBSYSTEM_ID = 0x1100;

    /** PM base address: bits 15:6, bit 0 reads 1 (I/O space). */
    public static final int PMBA = 0x40;
    /** PMREGMISC bit 0 (PMIOSE) turns the PM I/O block on. */
    public static final int PMREGMISC = 0x80;
    static final int PMIOSE = 0x01;
    static final int PMBA_MASK = 0xffc0;
    static final int SMBBA = 0x90;
    static final int SMBHSTCFG = 0xd2;

    static final int PM1_STS = 0x00;
    static final int PM1_EN = 0x02;
    static final int PM1_CNT = 0x04;
    static final int PM_TMR = 0x08;

    static final int STS_TMR = 0x0001;
    static final int STS_BM = 0x0010;
    static final int STS_GBL = 0x0020;
    static final int STS_PWRBTN = 0x0100;
    static final int STS_RTC = 0x0400;
    static final int STS_PWRBTN_OVERRIDE = 0x0800;
    static final int STS_WAK = 0x8000;
    static final int STS_WRITE_ONE_TO_CLEAR = STS_TMR | STS_BM | STS_GBL | STS_PWRBTN | STS_RTC | STS_PWRBTN_OVERRIDE | STS_WAK;

    static final int EN_TMR = 0x0001;
    static final int EN_GBL = 0x0020;
    static final int EN_PWRBTN = 0x0100;
    static final int EN_RTC = 0x0400;
    static final int EN_WRITABLE = EN_TMR | EN_GBL | EN_PWRBTN | EN_RTC;

    static final int CNT_SCI_EN = 0x0001;
    static final int CNT_BRLD_EN = 0x0002;
    static final int CNT_GBL_RLS = 0x0004;
    static final int CNT_SLP_TYP = 0x1c00;
    static final int CNT_SLP_TYP_SHIFT = 10;
    static final int CNT_SLP_EN = 0x2000;
    /** The bits PM1_CNT keeps; GBL_RLS and SLP_EN are write-only strobes. */
    static final int CNT_STORED = CNT_SCI_EN | CNT_BRLD_EN | CNT_SLP_TYP;

    /** The timer's MSB: TMR_STS is set whenever bit 23 of the counter changes. */
    static final long TIMER_MSB = 1L << 23;
    static final long TIMER_MASK = (1L << 24) - 1;
    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    private final PciConfiguration config = new PciConfiguration(VENDOR_INTEL, DEVICE_PIIX4_PM, CLASS_BRIDGE_OTHER, REVISION,
            SUBSYSTEM_VENDOR, SUBSYSTEM_ID);
    private final DeviceBus pio;
    private final InterruptLine sci;
    private final VmControl vm;
    private final LongSupplier monotonicNanos;
    private final long timerEpoch;
    private final DeviceTimer timer;
    private final List<AutoCloseable> closeWith = new ArrayList<>();
    private DeviceBus.Mapping pmMapping;
    private long pmConflicts;
    private int firmwareBase = -1;
    private int sts;
    private int en;
    private int cnt;
    private long timerChecked;
    private int gpeSts;
    private int gpeEn;
    private int apmControl;
    private int apmStatus;
    private boolean sciLevel;
    private int lastSleepType = -1;

    private final BusDevice pmBlock = new BusDevice() {
        @Override
        public long read(long offset, int size) {
            return readPm((int) offset, size);
        }

        @Override
        public void write(long offset, int size, long value) {
            writePm((int) offset, size, value);
        }
    };

    private final BusDevice gpeBlock = new BusDevice() {
        @Override
        public long read(long offset, int size) {
            return readGpe((int) offset, size);
        }

        @Override
        public void write(long offset, int size, long value) {
            writeGpe((int) offset, size, value);
        }
    };

    private final BusDevice smiCommand = new BusDevice() {
        @Override
        public long read(long offset, int size) {
            return readApm((int) offset, size);
        }

        @Override
        public void write(long offset, int size, long value) {
            writeApm((int) offset, size, value);
        }
    };

    /**
     * @param pio the port bus the PM block is placed on as the guest programs PMBA
     * @param sci the SCI's interrupt line ({@link AcpiHardware#SCI_IRQ})
     */
    public Piix4PowerManagement(DeviceBus pio, InterruptLine sci, VmControl vm) {
        this(pio, sci, vm, System::nanoTime, true);
    }

    Piix4PowerManagement(DeviceBus pio, InterruptLine sci, VmControl vm, LongSupplier monotonicNanos, boolean timed) {
        this.pio = pio;
        this.sci = sci;
        this.vm = vm;
        this.monotonicNanos = monotonicNanos;
        this.timerEpoch = monotonicNanos.getAsLong();
        this.timer = timed ? new DeviceTimer("acpi-pm-timer", this::timerExpired) : null;
        powerOnConfig();
    }

    private void powerOnConfig() {
        config.set32(PMBA, 0x1);
        config.setWritable(PMBA, 4, PMBA_MASK);
        config.set8(PMREGMISC, 0);
        config.setWritable(PMREGMISC, 1, PMIOSE);
        // Device-specific registers jkvm does not model (DEVACT/DEVRES, GPI/GPO routing, ...) are storage.
        config.setWritable(0x44, 0x3c, -1L);
        config.setWritable(0x81, 0x0f, -1L);
        config.setWritable(0x94, 0x3e, -1L);
        config.setWritable(0xd3, 0x2d, -1L);
        // There is no SMBus controller: SMBBA stays unassigned and SMBHSTCFG says "disabled".
        config.set32(SMBBA, 0x1);
        config.set8(SMBHSTCFG, 0);
    }

    /**
     * What SeaBIOS does before the guest runs: PMBA = base | 1, PMIOSE on, interrupt line 9
     * ("ACPI SCI is hardwired to 9"). Call once the function is on the bus.
     */
    public synchronized void firmwareSetup(int base) {
        if ((base & ~PMBA_MASK) != 0) {
            throw new IllegalArgumentException(String.format("PM base 0x%x is not a 64-byte aligned port", base));
        }
        firmwareBase = base;
        config.set32(PMBA, base | 1);
        config.set8(PMREGMISC, PMIOSE);
        config.set8(PciConfiguration.INTERRUPT_LINE, AcpiHardware.SCI_IRQ);
        updatePmIo();
    }

    /** The GPE0 block's registers, for the port bus at {@link AcpiHardware#GPE0_BLK} (4 bytes). */
    public BusDevice gpeBlock() {
        return gpeBlock;
    }

    /** The APM control/status ports, for the port bus at {@link AcpiHardware#SMI_CMD} (2 bytes). */
    public BusDevice smiCommandPort() {
        return smiCommand;
    }

    /** Resources that end with this function when the machine closes its PCI bus (the RTC's timer). */
    public synchronized void closeWith(AutoCloseable resource) {
        closeWith.add(resource);
    }

    // ---- host entry points ----

    /**
     * The power button: sets PWRBTN_STS, which raises the SCI if the guest enabled it. Returns true
     * when the guest is listening (ACPI mode on and PWRBTN_EN set); otherwise nothing will come of
     * it, and a host that wants the VM gone must power it off itself.
     */
    public boolean pressPowerButton() {
        synchronized (this) {
            sts |= STS_PWRBTN;
            if (updateSci()) {
                schedule();
            }
            return (cnt & CNT_SCI_EN) != 0 && (en & EN_PWRBTN) != 0;
        }
    }

    /** Sets a GPE0 status bit (0-15), as a hot-plug controller would. */
    public synchronized void raiseGpe(int bit) {
        if (bit < 0 || bit > 15) {
            throw new IllegalArgumentException("GPE " + bit);
        }
        gpeSts |= 1 << bit;
        if (updateSci()) {
            schedule();
        }
    }

    /** Back to the state firmware leaves (registers clear, PM block where firmware put it). */
    public synchronized void reset() {
        sts = 0;
        en = 0;
        cnt = 0;
        gpeSts = 0;
        gpeEn = 0;
        apmControl = 0;
        apmStatus = 0;
        powerOnConfig();
        if (firmwareBase >= 0) {
            firmwareSetup(firmwareBase);
        } else {
            updatePmIo();
        }
        updateSci();
        schedule();
    }

    // ---- PCI ----

    @Override
    public String name() {
        return "piix4-pm";
    }

    @Override
    public PciConfiguration configuration() {
        return config;
    }

    @Override
    public BusDevice bar(int index) {
        return null;
    }

    @Override
    public long readConfig(int offset, int size) {
        long v = config.read(offset, size);
        // Pin INTA, as QEMU reports it; kept out of the stored register so the bus never routes INTx for it.
        int pin = PciConfiguration.INTERRUPT_PIN;
        if (offset <= pin && offset + size > pin) {
            v |= 1L << (8 * (pin - offset));
        }
        return v;
    }

    @Override
    public void writeConfig(int offset, int size, long value) {
        config.write(offset, size, value);
        if ((offset < PMBA + 4 && offset + size > PMBA) || (offset <= PMREGMISC && offset + size > PMREGMISC)) {
            updatePmIo();
        }
    }

    /** Places the PM block where PMBA says, while PMIOSE is on; a base of 0 decodes nothing. */
    private synchronized void updatePmIo() {
        long want = (config.get8(PMREGMISC) & PMIOSE) != 0 ? config.get32(PMBA) & PMBA_MASK : 0;
        if (pmMapping != null && pmMapping.base() == want) {
            return;
        }
        if (pmMapping != null) {
            pio.unregister(pmMapping);
            pmMapping = null;
        }
        if (want != 0) {
            try {
                pmMapping = pio.register(want, AcpiHardware.PM_BLOCK_LENGTH, "piix4-pm", pmBlock);
            } catch (DeviceBus.ConflictException e) {
                // The guest put the block on top of another device: it decodes nowhere, as a BAR would.
                pmConflicts++;
            }
        }
    }

    /** Where the PM block decodes now, or -1. */
    public synchronized long pmBase() {
        return pmMapping == null ? -1 : pmMapping.base();
    }

    synchronized long pmConflicts() {
        return pmConflicts;
    }

    // ---- PM block ----

    private long timerTicks(long now) {
        long elapsed = now - timerEpoch;
        return Math.floorDiv(elapsed, NANOS_PER_SECOND) * AcpiHardware.PM_TIMER_HZ
                + Math.floorMod(elapsed, NANOS_PER_SECOND) * AcpiHardware.PM_TIMER_HZ / NANOS_PER_SECOND;
    }

    /** Sets TMR_STS if bit 23 of the counter changed since the last look. */
    private long catchUp() {
        long ticks = timerTicks(monotonicNanos.getAsLong());
        if ((ticks / TIMER_MSB) != (timerChecked / TIMER_MSB)) {
            sts |= STS_TMR;
        }
        timerChecked = ticks;
        return ticks;
    }

    synchronized long readPm(int offset, int size) {
        long ticks = catchUp();
        if (updateSci()) {
            schedule();
        }
        long v = 0;
        for (int i = 0; i < size; i++) {
            int o = offset + i;
            int b = switch (o) {
                case PM1_STS, PM1_STS + 1 -> sts >>> (8 * (o - PM1_STS));
                case PM1_EN, PM1_EN + 1 -> en >>> (8 * (o - PM1_EN));
                case PM1_CNT, PM1_CNT + 1 -> cnt >>> (8 * (o - PM1_CNT));
                case PM_TMR, PM_TMR + 1, PM_TMR + 2, PM_TMR + 3 -> (int) ((ticks & TIMER_MASK) >>> (8 * (o - PM_TMR)));
                default -> 0;
            };
            v |= (long) (b & 0xff) << (8 * i);
        }
        return v;
    }

    void writePm(int offset, int size, long value) {
        String powerOff = null;
        synchronized (this) {
            catchUp();
            boolean sleep = false;
            for (int i = 0; i < size; i++) {
                int o = offset + i;
                int shift = 8 * (o & 1);
                int b = ((int) (value >>> (8 * i)) & 0xff) << shift;
                int keep = ~(0xff << shift);
                switch (o) {
                    case PM1_STS, PM1_STS + 1 -> sts &= ~(b & STS_WRITE_ONE_TO_CLEAR);
                    case PM1_EN, PM1_EN + 1 -> en = (en & keep) | (b & EN_WRITABLE);
                    case PM1_CNT, PM1_CNT + 1 -> {
                        cnt = (cnt & keep) | (b & CNT_STORED);
                        sleep |= (b & CNT_SLP_EN) != 0;
                    }
                    default -> {
                        // the timer and the rest of the block are read-only or unimplemented
                    }
                }
            }
            if (sleep) {
                powerOff = sleep();
            }
            updateSci();
            schedule();
        }
        if (powerOff != null) {
            vm.powerOff(powerOff);
        }
    }

    /** SLP_EN was written: what the SLP_TYP in PM1_CNT asks for, as a power-off reason or null. */
    private String sleep() {
        int type = (cnt & CNT_SLP_TYP) >>> CNT_SLP_TYP_SHIFT;
        lastSleepType = type;
        return switch (type) {
            case AcpiHardware.SLP_TYP_S5 -> "ACPI S5 (soft off)";
            // No hibernation support in the VMM: like QEMU, S4 ends the VM once the guest saved its image.
            case AcpiHardware.SLP_TYP_S4 -> "ACPI S4 (hibernate)";
            // S3 (suspend to RAM) is not supported; the tables must not offer it. The write is ignored.
            default -> null;
        };
    }

    synchronized int lastSleepType() {
        return lastSleepType;
    }

    // ---- GPE0 and APM ----

    synchronized long readGpe(int offset, int size) {
        long v = 0;
        for (int i = 0; i < size; i++) {
            int o = offset + i;
            int b = o < 2 ? gpeSts >>> (8 * o) : o < 4 ? gpeEn >>> (8 * (o - 2)) : 0;
            v |= (long) (b & 0xff) << (8 * i);
        }
        return v;
    }

    synchronized void writeGpe(int offset, int size, long value) {
        for (int i = 0; i < size; i++) {
            int o = offset + i;
            int b = (int) (value >>> (8 * i)) & 0xff;
            if (o < 2) {
                gpeSts &= ~(b << (8 * o));
            } else if (o < 4) {
                int shift = 8 * (o - 2);
                gpeEn = (gpeEn & ~(0xff << shift)) | (b << shift);
            }
        }
        if (updateSci()) {
            schedule();
        }
    }

    synchronized long readApm(int offset, int size) {
        long v = 0;
        for (int i = 0; i < size; i++) {
            int o = offset + i;
            int b = o == 0 ? apmControl : o == 1 ? apmStatus : 0xff;
            v |= (long) (b & 0xff) << (8 * i);
        }
        return v;
    }

    synchronized void writeApm(int offset, int size, long value) {
        for (int i = 0; i < size; i++) {
            int o = offset + i;
            int b = (int) (value >>> (8 * i)) & 0xff;
            if (o == 0) {
                apmControl = b;
                if (b == AcpiHardware.ACPI_ENABLE) {
                    cnt |= CNT_SCI_EN;
                } else if (b == AcpiHardware.ACPI_DISABLE) {
                    cnt &= ~CNT_SCI_EN;
                }
            } else if (o == 1) {
                apmStatus = b;
            }
        }
        if (updateSci()) {
            schedule();
        }
    }

    // ---- SCI ----

    /** Drives the SCI from the status and enable bits; true when its level changed. */
    private boolean updateSci() {
        boolean level = (sts & en & EN_WRITABLE) != 0 || (gpeSts & gpeEn) != 0;
        if (level == sciLevel) {
            return false;
        }
        sciLevel = level;
        sci.set(level);
        return true;
    }

    /** Arms the timer for the next MSB change while TMR_EN is set and the SCI is not already up. */
    private void schedule() {
        if (timer == null) {
            return;
        }
        if ((en & EN_TMR) == 0 || sciLevel) {
            timer.cancel();
            return;
        }
        long next = (timerChecked / TIMER_MSB + 1) * TIMER_MSB;
        long secs = next / AcpiHardware.PM_TIMER_HZ;
        long rem = next % AcpiHardware.PM_TIMER_HZ;
        long at = timerEpoch + secs * NANOS_PER_SECOND + (rem * NANOS_PER_SECOND + AcpiHardware.PM_TIMER_HZ - 1) / AcpiHardware.PM_TIMER_HZ;
        timer.schedule(at + 1_000);
    }

    synchronized void timerExpired() {
        catchUp();
        updateSci();
        schedule();
    }

    boolean timerArmed() {
        return timer != null && timer.armed();
    }

    synchronized boolean sciAsserted() {
        return sciLevel;
    }

    @Override
    public void close() {
        if (timer != null) {
            timer.close();
        }
        List<AutoCloseable> others;
        synchronized (this) {
            others = List.copyOf(closeWith);
            closeWith.clear();
        }
        for (AutoCloseable c : others) {
            try {
                c.close();
            } catch (Exception e) {
                System.err.println("jkvm: closing " + c + " failed: " + e);
            }
        }
    }
}
