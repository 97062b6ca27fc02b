package dev.jkvm.machine;

import dev.jkvm.devices.legacy.serial.SerialCapture;
import dev.jkvm.backends.block.DriveOptions;
import dev.jkvm.memory.RamOptions;
import dev.jkvm.vmm.ExitStatus;
import dev.jkvm.vmm.cpu.CpuTopology;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeoutException;

/**
 * jkvm as a library: boot a VM in a few lines, for example inside a JUnit test.
 * <pre>{@code
 * try (VirtualMachine vm = VirtualMachine.builder()
 *         .memory("64M").vcpus(2)
 *         .kernel(Path.of("guest/build/testguest.elf")).cmdline("tests=serial")
 *         .debugExit(0xf4, 1)
 *         .build().start()) {
 *     vm.serial().waitFor(Pattern.compile("RESULT .*"), Duration.ofSeconds(30));
 *     ExitStatus status = vm.awaitExit(Duration.ofSeconds(30));
 * }
 * }</pre>
 * Serial output is captured in memory unless the builder says otherwise.
 */
public final class VirtualMachine implements AutoCloseable {
    private final MachineConfig config;
    private final SerialCapture capture;
    private PcMachine machine;

    private VirtualMachine(MachineConfig config, SerialCapture capture) {
        this.config = config;
        this.capture = capture;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Builds the machine and starts its vCPUs. Throws {@link MachineException} when it cannot be built. */
    public synchronized VirtualMachine start() {
        if (machine != null) {
            throw new IllegalStateException("already started");
        }
        machine = PcMachine.create(config);
        machine.start();
        return this;
    }

    /**
     * Waits for the guest to stop and returns why; throws TimeoutException, with the serial output
     * so far, when it is still running after {@code timeout}.
     */
    public ExitStatus awaitExit(Duration timeout) throws TimeoutException, InterruptedException {
        var status = running().awaitExit(timeout);
        if (status.isEmpty()) {
            throw new TimeoutException("VM still running after " + timeout
                    + (capture != null ? "; serial output so far:\n" + capture.text() : ""));
        }
        return status.get();
    }

    /** The in-memory serial console: output as text or a stream, waitFor(pattern, timeout), and input. */
    public SerialCapture serial() {
        if (capture == null) {
            throw new IllegalStateException("serial output is not captured for this VM");
        }
        return capture;
    }

    /** Everything the guest printed on COM1 so far. */
    public String serialOutput() {
        return serial().text();
    }

    /** Asks the VM to stop; {@link #awaitExit} then returns a HOST_STOP status. */
    public void stop() {
        running().stop("stopped by the host");
    }

    /** The machine underneath, for tests that look at guest memory or vCPUs. */
    public PcMachine machine() {
        return running();
    }

    public MachineConfig config() {
        return config;
    }

    private synchronized PcMachine running() {
        if (machine == null) {
            throw new IllegalStateException("VM not started");
        }
        return machine;
    }

    @Override
    public synchronized void close() {
        if (machine != null) {
            machine.close();
        }
        if (capture != null) {
            capture.close();
        }
    }

    /** Builds a VM; every setting has QEMU's default unless set. */
    public static final class Builder {
        private final MachineConfig.Builder config = MachineConfig.builder();
        private SerialCapture capture = new SerialCapture();
        private int drives;
        private int idePositions;

        private Builder() {
            config.serial(new SerialConfig.Capture(capture));
        }

        /** Guest RAM as QEMU's -m writes it: "64M", "4G", or a number of MiB. */
        public Builder memory(String size) {
            config.memoryBytes(Sizes.parse(size, 1L << 20));
            return this;
        }

        public Builder memoryBytes(long bytes) {
            config.memoryBytes(bytes);
            return this;
        }

        public Builder vcpus(int count) {
            config.smp(CpuTopology.resolve(count, 0, 0, 0, 0));
            return this;
        }

        public Builder smp(CpuTopology topology) {
            config.smp(topology);
            return this;
        }

        /** QEMU's -cpu: "host" or "max", optionally with "+feature" / "-feature" words. */
        public Builder cpu(String model) {
            config.cpuModel(model);
            return this;
        }

        /** Pins vCPU {@code vcpu} to these host CPUs. */
        public Builder pinVcpu(int vcpu, java.util.BitSet hostCpus) {
            config.pinVcpu(vcpu, hostCpus);
            return this;
        }

        public Builder kernel(Path kernel) {
            config.kernel(kernel);
            return this;
        }

        public Builder cmdline(String cmdline) {
            config.append(cmdline);
            return this;
        }

        public Builder initrd(Path initrd) {
            config.initrd(initrd);
            return this;
        }

        /** Adds a virtio-blk-pci disk backed by this drive (its id must be unique). */
        public Builder virtioBlk(DriveOptions drive) {
            return virtioBlk(drive, 1);
        }

        public Builder virtioBlk(DriveOptions drive, int queues) {
            DriveOptions named = drive.id() != null ? drive
                    : new DriveOptions("disk" + drives++, drive.file(), drive.format(), drive.cache(), drive.aio(),
                    drive.readOnly(), drive.snapshot(), drive.discard(), drive.serial());
            config.drive(named);
            config.device(new DeviceConfig.VirtioBlkPci(named.id(), queues, 256, -1, null));
            return this;
        }

        /** A network backend (user, tap or socket), for NICs to name by its id. */
        public Builder netdev(NetdevConfig netdev) {
            config.netdev(netdev);
            return this;
        }

        /** Adds a virtio-net-pci NIC on the netdev with this id; a null MAC takes QEMU's next default. */
        public Builder virtioNet(String netdev, String mac) {
            config.device(new DeviceConfig.VirtioNetPci(netdev, mac, false, -1));
            return this;
        }

        /** Adds an e1000 (82540EM) NIC on the netdev with this id; a null MAC takes QEMU's next default. */
        public Builder e1000(String netdev, String mac) {
            config.device(new DeviceConfig.E1000(netdev, mac, -1));
            return this;
        }

        /** Adds an ATA disk at the next free IDE position, in -hda..-hdd order. */
        public Builder ideDisk(DriveOptions drive) {
            return ide(drive, false);
        }

        /** Adds an ATAPI CD-ROM drive holding this ISO image, at the next free IDE position. */
        public Builder cdrom(Path iso) {
            return ide(DriveOptions.of(iso).withReadOnly(true), true);
        }

        private Builder ide(DriveOptions drive, boolean cdrom) {
            if (idePositions == 4) {
                throw new MachineException("no free IDE position (there are 4: -hda..-hdd)");
            }
            int bus = idePositions / 2;
            int unit = idePositions % 2;
            idePositions++;
            String id = drive.id() != null ? drive.id() : "ide" + bus + "-" + (cdrom ? "cd" : "hd") + unit;
            config.drive(new DriveOptions(id, drive.file(), drive.format(), drive.cache(), drive.aio(), drive.readOnly(),
                    drive.snapshot(), drive.discard(), drive.serial()));
            config.device(new DeviceConfig.IdeDrive(id, bus, unit, cdrom));
            return this;
        }

        /** ACPI tables (the default) or, with false, only an MP table, as -machine acpi=off. */
        public Builder acpi(boolean on) {
            config.acpi(on);
            return this;
        }

        /** Adds an isa-debug-exit device, so the guest can end the VM with a status. */
        public Builder debugExit(int iobase, int iosize) {
            config.device(new DeviceConfig.IsaDebugExit(iobase, iosize));
            return this;
        }

        public Builder noReboot(boolean on) {
            config.noReboot(on);
            return this;
        }

        public Builder bootEntry(BootEntry entry) {
            config.entry(entry);
            return this;
        }

        public Builder ram(RamOptions options) {
            config.ram(options);
            return this;
        }

        /** Sends COM1 to this process's stdin/stdout instead of capturing it. */
        public Builder serialStdio() {
            capture = null;
            config.serial(new SerialConfig.Stdio(false));
            return this;
        }

        public Builder serialFile(Path path) {
            capture = null;
            config.serial(new SerialConfig.ToFile(path));
            return this;
        }

        public Builder noSerial() {
            capture = null;
            config.serial(new SerialConfig.None());
            return this;
        }

        public VirtualMachine build() {
            return new VirtualMachine(config.build(), capture);
        }
    }
}
