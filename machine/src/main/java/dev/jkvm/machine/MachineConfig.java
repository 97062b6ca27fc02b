package dev.jkvm.machine;

import dev.jkvm.backends.block.DriveOptions;
import dev.jkvm.memory.RamOptions;
import dev.jkvm.vmm.cpu.CpuTopology;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Everything that defines a PC machine before it runs: what -m, -smp, -cpu, -kernel, -append,
 * -initrd, -serial, -device, -name, -no-reboot and -machine say.
 */
public record MachineConfig(
        long memoryBytes,
        CpuTopology smp,
        String cpuModel,
        Path kernel,
        String append,
        Path initrd,
        SerialConfig serial,
        List<DeviceConfig> devices,
        List<DriveOptions> drives,
        String name,
        boolean noReboot,
        RamOptions ram,
        BootEntry entry,
        java.util.Map<Integer, java.util.BitSet> vcpuPinning,
        boolean acpi,
        List<NetdevConfig> netdevs) {

    public static final long DEFAULT_MEMORY = 128L << 20;

    public MachineConfig {
        Objects.requireNonNull(smp);
        Objects.requireNonNull(serial);
        devices = List.copyOf(devices);
        drives = List.copyOf(drives);
        vcpuPinning = java.util.Map.copyOf(vcpuPinning);
        netdevs = List.copyOf(netdevs);
        append = append == null ? "" : append;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A mutable builder, used by the CLI and by {@link VirtualMachine.Builder}. */
    public static final class Builder {
        private long memoryBytes = DEFAULT_MEMORY;
        private CpuTopology smp = CpuTopology.single();
        private String cpuModel = "host";
        private Path kernel;
        private String append = "";
        private Path initrd;
        private SerialConfig serial = new SerialConfig.Null();
        private final List<DeviceConfig> devices = new ArrayList<>();
        private final List<DriveOptions> drives = new ArrayList<>();
        private String name;
        private boolean noReboot;
        private RamOptions ram = RamOptions.DEFAULT;
        private BootEntry entry = BootEntry.AUTO;
        private final java.util.Map<Integer, java.util.BitSet> vcpuPinning = new java.util.HashMap<>();
        private final List<NetdevConfig> netdevs = new ArrayList<>();
        private boolean acpi = true;

        public Builder memoryBytes(long bytes) {
            this.memoryBytes = bytes;
            return this;
        }

        public Builder smp(CpuTopology topology) {
            this.smp = topology;
            return this;
        }

        public Builder cpuModel(String model) {
            this.cpuModel = model;
            return this;
        }

        public Builder kernel(Path path) {
            this.kernel = path;
            return this;
        }

        public Builder append(String cmdline) {
            this.append = cmdline;
            return this;
        }

        public Builder initrd(Path path) {
            this.initrd = path;
            return this;
        }

        public Builder serial(SerialConfig config) {
            this.serial = config;
            return this;
        }

        public Builder device(DeviceConfig device) {
            devices.add(device);
            return this;
        }

        /** A -drive; a virtio-blk-pci device must name its id unless the drive was given as if=virtio. */
        public Builder drive(DriveOptions drive) {
            drives.add(drive);
            return this;
        }

        public Builder name(String vmName) {
            this.name = vmName;
            return this;
        }

        public Builder noReboot(boolean on) {
            this.noReboot = on;
            return this;
        }

        public Builder ram(RamOptions options) {
            this.ram = options;
            return this;
        }

        public RamOptions ram() {
            return ram;
        }

        /** A -netdev; NIC devices name its id. */
        public Builder netdev(NetdevConfig netdev) {
            netdevs.add(netdev);
            return this;
        }

        /** Pins vCPU {@code vcpu} (by index) to these host CPUs, as libvirt's vcpupin does. */
        public Builder pinVcpu(int vcpu, java.util.BitSet hostCpus) {
            vcpuPinning.put(vcpu, (java.util.BitSet) hostCpus.clone());
            return this;
        }

        /** -machine acpi=on|off: ACPI tables (and an MP table) with on, the default; only the MP table with off. */
        public Builder acpi(boolean on) {
            this.acpi = on;
            return this;
        }

        public Builder entry(BootEntry bootEntry) {
            this.entry = bootEntry;
            return this;
        }

        public MachineConfig build() {
            if (kernel == null) {
                throw new MachineException("no kernel given: jkvm boots a -kernel image (there is no firmware yet)");
            }
            return new MachineConfig(memoryBytes, smp, cpuModel, kernel, append, initrd, serial, devices, drives, name, noReboot, ram, entry, vcpuPinning, acpi, netdevs);
        }
    }
}
