package dev.jkvm.machine;

import dev.jkvm.devices.legacy.IsaDebugExit;
import dev.jkvm.devices.legacy.ide.PiixIde;
import dev.jkvm.devices.legacy.net.E1000;
import dev.jkvm.devices.legacy.pci.I440fxHostBridge;
import dev.jkvm.devices.legacy.pci.Piix3IsaBridge;
import dev.jkvm.devices.legacy.platform.AcpiHardware;
import dev.jkvm.devices.legacy.platform.CmosRtc;
import dev.jkvm.devices.legacy.platform.I8042Controller;
import dev.jkvm.devices.legacy.platform.IoSink;
import dev.jkvm.devices.legacy.platform.Piix4PowerManagement;
import dev.jkvm.devices.legacy.platform.PiixResetControl;
import dev.jkvm.devices.legacy.platform.SystemControlPortA;
import dev.jkvm.devices.legacy.serial.FileSerialBackend;
import dev.jkvm.devices.legacy.serial.NullSerialBackend;
import dev.jkvm.devices.legacy.serial.Serial16550;
import dev.jkvm.devices.legacy.serial.SerialBackend;
import dev.jkvm.devices.legacy.serial.StdioSerialBackend;
import dev.jkvm.backends.block.BlockImage;
import dev.jkvm.backends.net.MacAddress;
import dev.jkvm.backends.net.MultiQueueNetBackend;
import dev.jkvm.backends.net.NetBackend;
import dev.jkvm.backends.block.DriveOptions;
import dev.jkvm.backends.block.ImageException;
import dev.jkvm.backends.block.IoUring;
import dev.jkvm.backends.block.RawFileImage;
import dev.jkvm.backends.block.SnapshotImage;
import dev.jkvm.devices.virtio.block.VirtioBlock;
import dev.jkvm.devices.virtio.net.VirtioNet;
import dev.jkvm.devices.virtio.pci.VirtioPciTransport;
import dev.jkvm.kvm.CpuidEntry;
import dev.jkvm.kvm.KvmUnavailableException;
import dev.jkvm.kvm.KvmVcpu;
import dev.jkvm.machine.firmware.AcpiTables;
import dev.jkvm.machine.firmware.FirmwareConfig;
import dev.jkvm.machine.firmware.MpTable;
import dev.jkvm.memory.GuestMemory;
import dev.jkvm.memory.GuestRam;
import dev.jkvm.memory.PcMemoryLayout;
import dev.jkvm.os.NativeException;
import dev.jkvm.vmm.DeviceBus;
import dev.jkvm.vmm.ExitStatus;
import dev.jkvm.vmm.Vm;
import dev.jkvm.vmm.VmConfigurationException;
import dev.jkvm.vmm.cpu.CpuModel;
import dev.jkvm.vmm.cpu.CpuidBuilder;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import dev.jkvm.vmm.pci.PciAddress;
import dev.jkvm.vmm.pci.PciBus;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * A PC built from a {@link MachineConfig}: guest RAM in the PC layout, a KVM VM with its
 * irqchip and PIT, the legacy devices on their ports, and the kernel loaded and ready to run.
 * Construction either yields a complete machine or releases everything it took.
 */
public final class PcMachine implements AutoCloseable {
    private final MachineConfig config;
    private final PcMemoryLayout layout;
    private GuestRam ram;
    private GuestMemory memory;
    private Vm vm;
    private PciBus pci;
    /** The PIIX3 IDE controller (addIde). */
    private PiixIde ide;
    /** The PC platform devices (addPcPlatform); kept for reset-in-place and the host's power button. */
    private I8042Controller keyboardController;
    private CmosRtc rtc;
    private Piix4PowerManagement powerManagement;
    private SystemControlPortA port92;
    private PiixResetControl resetControl;
    /** I/O threads per virtio-blk device: enough to keep a deep queue busy on two host cores. */
    private static final int BLOCK_IO_THREADS = 4;
    /** Network backends by netdev id; closed with the machine. */
    private final java.util.Map<String, NetBackend> netBackends = new java.util.LinkedHashMap<>();
    /** Images opened but not yet owned by a device; closed with the machine if set-up fails. */
    private final java.util.Map<String, BlockImage> images = new java.util.LinkedHashMap<>();
    private final List<VirtioBlock> blockDevices = new java.util.ArrayList<>();
    private final List<VirtioNet> netDevices = new java.util.ArrayList<>();
    private Serial16550 serial;
    private SerialBackend serialBackend;
    private KernelLoader.Loaded boot;
    private boolean closed;
    private Piix3IsaBridge piix3;
    /** Guest resets served in place (without -no-reboot). */
    private final java.util.concurrent.atomic.AtomicInteger reboots = new java.util.concurrent.atomic.AtomicInteger();

    private PcMachine(MachineConfig config) {
        this.config = config;
        this.layout = layoutFor(config.memoryBytes());
    }

    /** Builds the machine; a configuration it cannot honour is a {@link MachineException} with a one-line message. */
    public static PcMachine create(MachineConfig config) {
        PcMachine m = new PcMachine(config);
        try {
            m.assemble();
            return m;
        } catch (RuntimeException e) {
            m.close();
            throw translate(e);
        }
    }

    private static PcMemoryLayout layoutFor(long bytes) {
        if (bytes <= 0) {
            throw new MachineException("invalid RAM size: guest memory must be larger than 0");
        }
        long host = HostMemory.totalBytes();
        if (bytes > host) {
            throw new MachineException(String.format("cannot set up %s of guest RAM: this host has %s of memory and swap",
                    Sizes.format(bytes), Sizes.format(host)));
        }
        try {
            return PcMemoryLayout.forRamSize(bytes);
        } catch (IllegalArgumentException e) {
            throw new MachineException("invalid RAM size: " + e.getMessage());
        }
    }

    private static RuntimeException translate(RuntimeException e) {
        return switch (e) {
            case MachineException m -> m;
            case KvmUnavailableException k -> new MachineException(k.getMessage(), k);
            case NativeException n -> new MachineException("cannot create the machine: " + n.getMessage(), n);
            case DeviceBus.ConflictException c -> new MachineException("device conflict: " + c.getMessage(), c);
            case VmConfigurationException v -> new MachineException(v.getMessage(), v);
            default -> e;
        };
    }

    private void assemble() {
        try {
            ram = GuestRam.allocate(layout.ramSize(), config.ram());
        } catch (NativeException e) {
            throw new MachineException("cannot allocate " + Sizes.format(layout.ramSize()) + " of guest RAM: " + e.getMessage(), e);
        }
        memory = GuestMemory.of(ram, layout);
        openImages();
        vm = Vm.create(memory, config.smp().apicIds());
        if (!config.noReboot()) {
            // A reset request can come from a vCPU thread that holds a device or bus lock; the
            // reboot pauses every vCPU, so it runs on its own thread.
            vm.setResetHandler(why -> Thread.ofPlatform().name("jkvm-reset").daemon(true).start(() -> rebootInPlace(why)));
        }
        configureCpus();
        addChipset();
        addPcPlatform();
        addSerial();
        addIde();
        addNetworkDevices();
        for (DeviceConfig d : config.devices()) {
            switch (d) {
                case DeviceConfig.IsaDebugExit x -> vm.pio().register(x.iobase(), x.iosize(), "isa-debug-exit", new IsaDebugExit(vm));
                case DeviceConfig.VirtioBlkPci b -> addVirtioBlk(b);
                case DeviceConfig.IdeDrive i -> {
                    // attached in addIde()
                }
                default -> {
                    // NICs are added in addNetworkDevices(), IDE drives in addIde()
                }
            }
        }
        // jkvm is the firmware: BARs get addresses and decoding is on before the kernel runs.
        pci.assignResources();
        long rsdp = installFirmwareTables();
        boot = KernelLoader.load(config, layout, memory, vm.vcpus().get(0), rsdp);
    }

    /** The PC's fixed ISA devices: keyboard controller, CMOS RTC, PIIX4 power management, POST and reset ports. */
    private void addPcPlatform() {
        keyboardController = new I8042Controller(vm.irqLine(I8042Controller.KEYBOARD_IRQ), vm.irqLine(I8042Controller.AUX_IRQ), vm);
        vm.pio().register(I8042Controller.DATA_PORT, 1, "i8042-data", keyboardController.dataPort());
        vm.pio().register(I8042Controller.STATUS_COMMAND_PORT, 1, "i8042-command", keyboardController.commandPort());

        rtc = new CmosRtc(vm.irqLine(CmosRtc.IRQ));
        rtc.setMemorySizes(layout.lowRamSize(), layout.highRamSize());
        rtc.setCpuCount(config.smp().cpus());
        vm.pio().register(CmosRtc.BASE_PORT, CmosRtc.PORT_COUNT, "cmos-rtc", rtc);

        // PIIX4 power management at 00:01.3 (PIIX3 at 01.0 is already multi-function). The RTC's timer
        // thread is closed with it, since closing the machine closes every PCI function.
        powerManagement = new Piix4PowerManagement(vm.pio(), vm.irqLine(AcpiHardware.SCI_IRQ), vm);
        powerManagement.closeWith(rtc);
        pci.add(new PciAddress(1, 3), powerManagement);
        powerManagement.firmwareSetup(AcpiHardware.PM_BASE);
        vm.pio().register(AcpiHardware.SMI_CMD, 2, "apm", powerManagement.smiCommandPort());
        vm.pio().register(AcpiHardware.GPE0_BLK, AcpiHardware.GPE0_BLK_LEN, "acpi-gpe0", powerManagement.gpeBlock());

        vm.pio().register(IoSink.POST_PORT, 1, "post", new IoSink());
        vm.pio().register(IoSink.DELAY_PORT, 1, "io-delay", new IoSink());
        port92 = new SystemControlPortA(vm);
        vm.pio().register(SystemControlPortA.PORT, 1, "port92", port92);
        resetControl = new PiixResetControl(vm);
        pci.setResetControl(resetControl);
    }

    /** NICs (virtio-net-pci, e1000) on their -netdev backends (tap, user, socket), MACs as QEMU hands them out. */
    private void addNetworkDevices() {
        int nic = 0;
        for (DeviceConfig d : config.devices()) {
            switch (d) {
                case DeviceConfig.VirtioNetPci n -> addVirtioNet(n, netBackend(n.netdev()), macFor(n.mac(), nic++));
                case DeviceConfig.E1000 e -> addE1000(e, netBackend(e.netdev()), macFor(e.mac(), nic++));
                default -> {
                }
            }
        }
    }

    private static MacAddress macFor(String configured, int index) {
        try {
            return configured != null ? MacAddress.parse(configured) : MacAddress.qemuDefault(index);
        } catch (IllegalArgumentException e) {
            throw new MachineException(e.getMessage());
        }
    }

    /** The backend of a -netdev, opened on first use; one NIC per netdev, as in QEMU. */
    private NetBackend netBackend(String id) {
        if (netBackends.containsKey(id)) {
            throw new MachineException("netdev '" + id + "' is used by two NICs");
        }
        NetdevConfig netdev = config.netdevs().stream().filter(n -> n.id().equals(id)).findFirst()
                .orElseThrow(() -> new MachineException("netdev '" + id + "' was not defined with -netdev"));
        NetBackend backend = NetBackendFactory.open(netdev);
        netBackends.put(id, backend);
        return backend;
    }

    private void addVirtioNet(DeviceConfig.VirtioNetPci device, NetBackend backend, MacAddress mac) {
        // mq=on: a queue pair per backend queue (a multi-queue tap); the device starts the backend at DRIVER_OK.
        int pairs = 1;
        if (device.mq() && backend instanceof MultiQueueNetBackend multi) {
            pairs = multi.queueCount();
            if (pairs > VirtioNet.MAX_QUEUE_PAIRS) {
                throw new MachineException("virtio-net-pci netdev=" + device.netdev() + ": " + pairs
                        + " queues, at most " + VirtioNet.MAX_QUEUE_PAIRS + " queue pairs are supported");
            }
        }
        VirtioNet net = new VirtioNet(device.netdev(), backend, mac, pairs, VirtioNet.DEFAULT_QUEUE_SIZE, 0);
        VirtioPciTransport transport = new VirtioPciTransport(net, memory, vm.msi(), vm.ioEvents());
        int slot = device.slot() >= 0 ? device.slot() : pci.freeSlot();
        if (slot < 0) {
            transport.close();
            throw new MachineException("no free PCI slot for virtio-net-pci netdev=" + device.netdev());
        }
        try {
            pci.add(new PciAddress(slot, 0), transport);
        } catch (IllegalArgumentException e) {
            transport.close();
            throw new MachineException("virtio-net-pci netdev=" + device.netdev() + ": " + e.getMessage());
        }
        netDevices.add(net);
    }

    /** The virtio-net devices, in -device order. */
    public List<VirtioNet> netDevices() {
        return List.copyOf(netDevices);
    }

    /** An Intel 82540EM (e1000) on INTA#; the device starts the backend when its driver enables receive. */
    private void addE1000(DeviceConfig.E1000 device, NetBackend backend, MacAddress mac) {
        E1000 nic = new E1000(device.netdev(), memory, backend, mac);
        int slot = device.slot() >= 0 ? device.slot() : pci.freeSlot();
        try {
            if (slot < 0) {
                throw new IllegalArgumentException("no free PCI slot");
            }
            pci.add(new PciAddress(slot, 0), nic);
        } catch (IllegalArgumentException e) {
            nic.close();
            throw new MachineException("e1000 netdev=" + device.netdev() + ": " + e.getMessage());
        }
    }

    /**
     * The PIIX3 IDE controller at 00:01.1 with its -hda..-hdd / -cdrom / if=ide drives. It is there with
     * no drives too, as on QEMU's pc machine, so an OS finds the channels and sees them empty.
     */
    private void addIde() {
        ide = new PiixIde(memory, vm.irqLine(PiixIde.PRIMARY_IRQ), vm.irqLine(PiixIde.SECONDARY_IRQ));
        pci.add(new PciAddress(1, 1), ide);
        ide.registerLegacyPorts(vm.pio());
        for (DeviceConfig d : config.devices()) {
            if (!(d instanceof DeviceConfig.IdeDrive drive)) {
                continue;
            }
            DriveOptions options = config.drives().stream().filter(x -> drive.drive().equals(x.id())).findFirst().orElseThrow();
            BlockImage image = images.remove(options.id());
            try {
                if (drive.cdrom()) {
                    ide.attachCdrom(drive.bus(), drive.unit(), image, options.serial());
                } else {
                    ide.attachDisk(drive.bus(), drive.unit(), image, options.cache().writebackCache(), options.serial());
                }
            } catch (IllegalArgumentException e) {
                image.close();
                throw new MachineException("IDE drive '" + options.id() + "': " + e.getMessage());
            }
        }
        // What SeaBIOS leaves: decode enabled in the timing registers, SERR on; BAR4 comes from assignResources().
        ide.firmwareSetup();
    }

    /** ACPI tables (or an MP table with acpi=off) in the BIOS area; returns the RSDP's address, or 0. */
    private long installFirmwareTables() {
        // The MP table is written with ACPI too, as SeaBIOS does: an OS told to ignore ACPI still finds
        // every CPU and the IOAPIC. PCI INTx GSIs follow the PIIX3 routing set in addChipset.
        List<CpuidEntry> cpuid = CpuModel.parse(config.cpuModel())
                .apply(CpuidBuilder.forVcpu(vm.kvm().supportedCpuid(), config.smp(), 0), warning -> { });
        CpuidEntry leaf1 = cpuid.stream().filter(e -> e.function() == 1).findFirst().orElse(new CpuidEntry(1, 0, 0, 0, 0, 0, 0));
        FirmwareConfig firmware = FirmwareConfig.pc(config.smp().apicIds()).withCpuid(leaf1.eax(), leaf1.edx());
        try {
            MpTable.install(memory, firmware);
            return config.acpi() ? AcpiTables.install(memory, firmware) : 0;
        } catch (IllegalArgumentException e) {
            throw new MachineException("cannot build the firmware tables: " + e.getMessage());
        }
    }

    /** The i440FX host bridge and the PIIX3 ISA bridge, with PCI interrupts steered as SeaBIOS leaves them. */
    private void addChipset() {
        pci = new PciBus(vm.pio(), vm.mmio(), vm::irqLine);
        pci.add(new PciAddress(0, 0), new I440fxHostBridge());
        piix3 = new Piix3IsaBridge(pci::pirqRoutingChanged);
        pci.add(new PciAddress(1, 0), piix3);
        pci.setPirqRouter(piix3);
        piix3.route(10, 10, 11, 11);
    }

    /** Opens every image a device uses, before any KVM resource exists: bad images are the user's first error. */
    private void openImages() {
        Set<Integer> idePositions = new HashSet<>();
        for (DeviceConfig d : config.devices()) {
            String driveId;
            String user;
            boolean cdrom = false;
            switch (d) {
                case DeviceConfig.VirtioBlkPci v -> {
                    driveId = v.drive();
                    user = "virtio-blk-pci";
                }
                case DeviceConfig.IdeDrive i -> {
                    driveId = i.drive();
                    cdrom = i.cdrom();
                    user = cdrom ? "ide-cd" : "ide-hd";
                    if (!idePositions.add(i.index())) {
                        throw new MachineException(user + " drive=" + driveId + ": IDE bus " + i.bus() + " unit " + i.unit()
                                + " (index " + i.index() + ") is already in use");
                    }
                }
                default -> {
                    continue;
                }
            }
            String who = user;
            DriveOptions drive = config.drives().stream().filter(x -> driveId.equals(x.id())).findFirst()
                    .orElseThrow(() -> new MachineException(who + ": drive '" + driveId + "' was not defined with -drive"));
            if (d instanceof DeviceConfig.IdeDrive && !cdrom && drive.readOnly()) {
                throw new MachineException("drive '" + drive.id() + "': an IDE hard disk cannot be read-only (QEMU refuses it too); use media=cdrom");
            }
            if (images.containsKey(drive.id())) {
                throw new MachineException("drive '" + drive.id() + "' is used by two devices");
            }
            if (!drive.format().equals("raw")) {
                throw new MachineException("drive '" + drive.id() + "': format=" + drive.format() + " is not supported yet (raw is)");
            }
            if (drive.aio().equals("io_uring") && !IoUring.available()) {
                throw new MachineException("drive '" + drive.id() + "': aio=io_uring is not available on this host (io_uring_setup failed)");
            }
            if (!drive.aio().equals("threads") && !drive.aio().equals("io_uring")) {
                throw new MachineException("drive '" + drive.id() + "': aio=" + drive.aio() + " is not supported (threads or io_uring)");
            }
            try {
                // A CD-ROM's medium is read-only whatever the -drive says.
                images.put(drive.id(), cdrom ? RawFileImage.open(drive.file(), true, drive.cache(), false)
                        : drive.snapshot() ? SnapshotImage.open(drive.file(), drive.cache(), drive.discard())
                        : RawFileImage.open(drive.file(), drive.readOnly(), drive.cache(), drive.discard()));
            } catch (ImageException e) {
                throw new MachineException(e.getMessage());
            }
        }
    }

    private void addVirtioBlk(DeviceConfig.VirtioBlkPci device) {
        DriveOptions drive = config.drives().stream().filter(d -> device.drive().equals(d.id())).findFirst().orElseThrow();
        BlockImage image = images.remove(drive.id());
        DriveOptions effective = device.serial() != null ? drive.withSerial(device.serial()) : drive;
        int queues = device.numQueues() > 0 ? device.numQueues() : Math.min(config.smp().cpus(), 64);
        VirtioBlock blk = new VirtioBlock(drive.id(), image, effective, queues, device.queueSize(), BLOCK_IO_THREADS);
        VirtioPciTransport transport = new VirtioPciTransport(blk, memory, vm.msi(), vm.ioEvents());
        int slot = device.slot() >= 0 ? device.slot() : pci.freeSlot();
        if (slot < 0) {
            transport.close();
            throw new MachineException("no free PCI slot for virtio-blk-pci drive=" + drive.id());
        }
        try {
            pci.add(new PciAddress(slot, 0), transport);
        } catch (IllegalArgumentException e) {
            transport.close();
            throw new MachineException("virtio-blk-pci drive=" + drive.id() + ": " + e.getMessage());
        }
        blockDevices.add(blk);
    }

    /** The virtio-blk devices, in -device order. */
    public List<VirtioBlock> blockDevices() {
        return List.copyOf(blockDevices);
    }

    public PciBus pci() {
        return pci;
    }

    /** IA32_MISC_ENABLE with fast strings, and the PAT's power-on value, as a CPU has them after reset. */
    private static final Map<Integer, Long> RESET_MSRS = new TreeMap<>(Map.of(0x1a0, 1L, 0x277, 0x0007040600070406L));

    private void configureCpus() {
        CpuModel model;
        try {
            model = CpuModel.parse(config.cpuModel());
        } catch (IllegalArgumentException e) {
            throw new MachineException("-cpu " + config.cpuModel() + ": " + e.getMessage());
        }
        List<CpuidEntry> supported = vm.kvm().supportedCpuid();
        Set<String> warned = new HashSet<>();
        for (KvmVcpu vcpu : vm.vcpus()) {
            List<CpuidEntry> cpuid = model.apply(CpuidBuilder.forVcpu(supported, config.smp(), vcpu.id()), w -> {
                if (warned.add(w)) {
                    System.err.println("jkvm: warning: " + w);
                }
            });
            vcpu.setCpuid(cpuid);
            vcpu.setMsrs(RESET_MSRS);
        }
        config.vcpuPinning().forEach((index, cpus) -> {
            if (index >= config.smp().cpus()) {
                throw new MachineException("-vcpu-pin: vCPU " + index + " does not exist (-smp " + config.smp().cpus() + ")");
            }
            int online = Runtime.getRuntime().availableProcessors();
            if (cpus.length() > online) {
                throw new MachineException("-vcpu-pin: host CPU " + (cpus.length() - 1) + " is not available (this host has " + online + ")");
            }
            vm.pinVcpu(index, cpus);
        });
    }

    private void addSerial() {
        serialBackend = switch (config.serial()) {
            case SerialConfig.None n -> null;
            case SerialConfig.Null n -> new NullSerialBackend();
            case SerialConfig.Stdio s -> new StdioSerialBackend(s.multiplexed());
            case SerialConfig.Capture c -> c.capture();
            case SerialConfig.ToFile f -> {
                try {
                    yield new FileSerialBackend(f.path());
                } catch (IOException e) {
                    throw new MachineException("could not open serial device file '" + f.path() + "': " + e.getMessage());
                }
            }
        };
        if (serialBackend != null) {
            serial = new Serial16550(vm.irqLine(Serial16550.COM1_IRQ), serialBackend);
            vm.pio().register(Serial16550.COM1_BASE, Serial16550.REGISTER_COUNT, "serial0", serial);
        }
    }

    /**
     * A guest reset without -no-reboot: the machine restarts in place, as a PC does. Every vCPU is
     * paused outside the guest; CPUs, interrupt controllers and devices go back to their power-on
     * state (RAM, disks, network backends and the CMOS NVRAM are kept, as QEMU keeps them); the
     * firmware set-up and the kernel are loaded again; the vCPUs resume.
     */
    private synchronized void rebootInPlace(String why) {
        if (closed || vm.exitStatus().isPresent()) {
            return;
        }
        vm.pause();
        try {
            resetDevices();
            vm.resetCpusAndIrqchip();
            for (KvmVcpu vcpu : vm.vcpus()) {
                vcpu.setMsrs(RESET_MSRS);
            }
            piix3.route(10, 10, 11, 11);
            pci.assignResources();
            long rsdp = installFirmwareTables();
            boot = KernelLoader.load(config, layout, memory, vm.vcpus().get(0), rsdp);
            reboots.incrementAndGet();
        } catch (RuntimeException e) {
            vm.requestStop(ExitStatus.error("reboot after '" + why + "' failed: " + e.getMessage()));
        } finally {
            vm.resume();
        }
    }

    private void resetDevices() {
        pci.reset();
        if (serial != null) {
            serial.reset();
        }
        keyboardController.reset();
        rtc.reset();
        port92.reset();
        resetControl.reset();
    }

    /** How many guest resets were served by rebooting in place. */
    public int reboots() {
        return reboots.get();
    }

    /** Starts the vCPUs and the console input. */
    public void start() {
        if (serialBackend != null) {
            serialBackend.connect(serial, () -> vm.requestStop(ExitStatus.hostStop("Ctrl-A x on the console")));
        }
        vm.start();
    }

    /** The exit status once the guest stops, or empty when the timeout passes first. */
    public Optional<ExitStatus> awaitExit(Duration timeout) throws InterruptedException {
        return vm.awaitExit(timeout);
    }

    public void stop(String why) {
        vm.requestStop(ExitStatus.hostStop(why));
    }

    public Vm vm() {
        return vm;
    }

    public GuestMemory memory() {
        return memory;
    }

    public PcMemoryLayout layout() {
        return layout;
    }

    public MachineConfig config() {
        return config;
    }

    /** How the kernel is entered: format, entry kind and address. */
    public String bootDescription() {
        return String.format("%s kernel, %s entry at 0x%x", boot.format(), boot.entry(), boot.entryAddress());
    }

    BootEntry bootEntry() {
        return boot.entry();
    }

    /** Stops the VM if it runs and releases its threads, fds and memory. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (vm != null) {
            vm.close();
        }
        if (pci != null) {
            pci.close();
        }
        for (BlockImage image : images.values()) {
            image.close();
        }
        images.clear();
        for (NetBackend backend : netBackends.values()) {
            backend.close();
        }
        netBackends.clear();
        if (serialBackend != null) {
            serialBackend.close();
        }
        if (ram != null) {
            ram.close();
        }
    }
}
