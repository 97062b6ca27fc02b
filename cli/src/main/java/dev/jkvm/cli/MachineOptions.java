package dev.jkvm.cli;

import dev.jkvm.backends.block.CacheMode;
import dev.jkvm.backends.block.DriveOptions;
import dev.jkvm.machine.BootEntry;
import dev.jkvm.machine.DeviceConfig;
import dev.jkvm.machine.MachineConfig;
import dev.jkvm.machine.SerialConfig;
import dev.jkvm.machine.Sizes;
import dev.jkvm.memory.RamOptions;
import dev.jkvm.vmm.cpu.CpuModel;
import dev.jkvm.vmm.cpu.CpuTopology;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** Turns parsed {@link JkvmOptions} into a {@link MachineConfig}, with QEMU's defaults and one-line errors. */
final class MachineOptions {
    /** QEMU devices that jkvm will have but does not have yet, so the message can say "not yet". */
    private static final Set<String> PLANNED_DEVICES = Set.of(
            "virtio-blk", "virtio-balloon-pci", "virtio-balloon", "ide-hd", "ide-cd", "ide-drive", "isa-serial", "virtio-serial-pci", "virtio-rng-pci");

    private MachineOptions() {
    }

    static MachineConfig toConfig(JkvmOptions o) {
        MachineConfig.Builder b = MachineConfig.builder();
        if (o.memory != null) {
            b.memoryBytes(memory(o.memory));
        }
        if (o.smp != null) {
            b.smp(smp(o.smp));
        }
        if (o.cpu != null) {
            b.cpuModel(cpu(o.cpu));
        }
        for (String pin : o.vcpuPins) {
            vcpuPin(b, pin);
        }
        if (o.kernel == null) {
            throw new CliException("no -kernel given: jkvm has no firmware yet, so it boots a kernel image directly (try ./jkvm demo)");
        }
        b.kernel(Path.of(o.kernel));
        if (o.append != null) {
            b.append(o.append);
        }
        if (o.initrd != null) {
            b.initrd(Path.of(o.initrd));
        }
        if (o.display != null && !o.display.equals("none")) {
            throw new CliException("-display " + o.display + ": jkvm has no graphical display; use -display none or -nographic");
        }
        b.serial(serial(o));
        IdeOptions ide = new IdeOptions();
        for (int i = 0; i < o.drives.size(); i++) {
            drive(b, o.drives.get(i), i, o.snapshot, ide);
        }
        ide.addShortcuts(o);
        ide.apply(b);
        List<DeviceConfig> devices = new ArrayList<>();
        for (String d : o.devices) {
            devices.add(device(d));
        }
        // -netdev, -nic and -net; then the devices, NICs with QEMU's default MACs.
        NetOptions.apply(b, o, devices);
        b.name(o.name);
        b.noReboot(o.noReboot);
        for (String a : o.accel) {
            QemuOpts accel = QemuOpts.parse("-accel", a, "accel");
            String kind = accel.take("accel", "");
            if (!kind.equals("kvm")) {
                throw new CliException("-accel " + a + ": jkvm only runs on KVM");
            }
            accel.requireAllTaken("kvm");
        }
        RamOptions ram = RamOptions.DEFAULT;
        for (String m : o.machine) {
            QemuOpts machine = QemuOpts.parse("-machine", m, "type");
            String type = machine.take("type", "pc");
            if (!type.equals("pc") && !type.startsWith("pc-i440fx")) {
                throw new CliException("-machine " + type + ": jkvm emulates the i440FX PC ('pc') only");
            }
            ram = ram.withMergeable(machine.takeBoolean("mem-merge", ram.mergeable()));
            String accel = machine.take("accel");
            if (accel != null && !accel.equals("kvm")) {
                throw new CliException("-machine accel=" + accel + ": jkvm only runs on KVM");
            }
            String acpi = machine.take("acpi");
            if (acpi != null) {
                // QEMU's acpi is OnOffAuto; auto means on for the pc machine.
                b.acpi(switch (acpi.toLowerCase(Locale.ROOT)) {
                    case "on", "yes", "true", "y", "auto" -> true;
                    case "off", "no", "false", "n" -> false;
                    default -> throw new CliException("-machine acpi=" + acpi + ": expected on, off or auto");
                });
            }
            String entry = machine.take("entry");
            if (entry != null) {
                b.entry(switch (entry) {
                    case "auto" -> BootEntry.AUTO;
                    case "long" -> BootEntry.LONG;
                    case "pvh" -> BootEntry.PVH;
                    default -> throw new CliException("-machine entry=" + entry + ": expected auto, long or pvh");
                });
            }
            machine.requireAllTaken(type);
        }
        if (o.memPath != null) {
            ram = ram.withMemPath(Path.of(o.memPath));
        }
        if (o.memPrealloc) {
            ram = ram.withPrealloc(true);
        }
        b.ram(ram);
        return b.build();
    }

    static long memory(String text) {
        QemuOpts opts = QemuOpts.parse("-m", text, "size");
        String size = opts.take("size");
        opts.requireAllTaken("");
        if (size == null) {
            throw new CliException("-m " + text + ": missing size");
        }
        long bytes;
        try {
            bytes = Sizes.parse(size, 1L << 20);
        } catch (IllegalArgumentException e) {
            throw new CliException("-m " + text + ": invalid RAM size (" + e.getMessage() + ")");
        }
        if (bytes <= 0) {
            throw new CliException("-m " + text + ": invalid RAM size: guest memory must be larger than 0");
        }
        // QEMU rounds RAM up to a whole page too.
        return (bytes + 0xfff) & ~0xfffL;
    }

    static CpuTopology smp(String text) {
        QemuOpts opts = QemuOpts.parse("-smp", text, "cpus");
        int cpus = smpValue(opts, "cpus", text);
        int sockets = smpValue(opts, "sockets", text);
        int cores = smpValue(opts, "cores", text);
        int threads = smpValue(opts, "threads", text);
        int maxcpus = smpValue(opts, "maxcpus", text);
        smpValue(opts, "dies", text);
        opts.requireAllTaken("");
        try {
            return CpuTopology.resolve(Math.max(cpus, 0), Math.max(sockets, 0), Math.max(cores, 0), Math.max(threads, 0), Math.max(maxcpus, 0));
        } catch (IllegalArgumentException e) {
            throw new CliException("-smp " + text + ": " + e.getMessage());
        }
    }

    /** A -smp value; -1 when absent. As in QEMU, an explicit 0 is an error, not "default". */
    private static int smpValue(QemuOpts opts, String key, String text) {
        String v = opts.take(key);
        if (v == null) {
            return -1;
        }
        int n;
        try {
            n = Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new CliException("-smp " + text + ": " + key + " expects a number, got '" + v + "'");
        }
        if (n <= 0) {
            throw new CliException("-smp " + text + ": invalid CPU topology: " + key + " must be greater than zero");
        }
        if (n > 4096) {
            throw new CliException("-smp " + text + ": " + key + "=" + n + " is more than jkvm supports (4096)");
        }
        return n;
    }

    static String cpu(String text) {
        try {
            CpuModel.parse(text);
        } catch (IllegalArgumentException e) {
            throw new CliException("-cpu " + text + ": " + e.getMessage());
        }
        return text;
    }

    /** -vcpu-pin VCPU:CPULIST, libvirt's vcpupin: "0:2", "1:2-3,6". */
    static void vcpuPin(MachineConfig.Builder b, String text) {
        int colon = text.indexOf(':');
        try {
            if (colon <= 0) {
                throw new NumberFormatException();
            }
            int vcpu = Integer.parseInt(text.substring(0, colon).trim());
            java.util.BitSet cpus = new java.util.BitSet();
            for (String part : text.substring(colon + 1).split(",")) {
                String[] range = part.trim().split("-");
                int from = Integer.parseInt(range[0]);
                int to = range.length > 1 ? Integer.parseInt(range[1]) : from;
                if (range.length > 2 || from < 0 || to < from || to > 4095) {
                    throw new NumberFormatException();
                }
                cpus.set(from, to + 1);
            }
            if (vcpu < 0) {
                throw new NumberFormatException();
            }
            b.pinVcpu(vcpu, cpus);
        } catch (NumberFormatException e) {
            throw new CliException("-vcpu-pin " + text + ": expected VCPU:CPULIST, for example 0:2 or 1:2-3,6");
        }
    }

    static SerialConfig serial(JkvmOptions o) {
        if (o.serial.size() > 1) {
            throw new CliException("-serial given " + o.serial.size() + " times: jkvm has one serial port (COM1) so far");
        }
        if (o.serial.isEmpty()) {
            // jkvm has no graphical console, so COM1 goes where -nographic puts it.
            return o.noDefaults ? new SerialConfig.None() : new SerialConfig.Stdio(true);
        }
        String s = o.serial.get(0);
        if (s.equals("stdio")) {
            return new SerialConfig.Stdio(false);
        }
        if (s.equals("mon:stdio")) {
            return new SerialConfig.Stdio(true);
        }
        if (s.equals("none")) {
            return new SerialConfig.None();
        }
        if (s.equals("null")) {
            return new SerialConfig.Null();
        }
        if (s.startsWith("file:") && s.length() > 5) {
            return new SerialConfig.ToFile(Path.of(s.substring(5)));
        }
        String kind = s.contains(":") ? s.substring(0, s.indexOf(':')) : s;
        throw new CliException("-serial " + s + ": backend '" + kind + "' is not supported yet (stdio, mon:stdio, file:PATH, null, none are)");
    }

    /** -drive: the image and how to open it; if=virtio also adds its virtio-blk-pci device, as QEMU does. */
    static void drive(MachineConfig.Builder b, String text, int index, boolean globalSnapshot) {
        IdeOptions ide = new IdeOptions();
        drive(b, text, index, globalSnapshot, ide);
        ide.apply(b);
    }

    /** -drive, with if=ide drives (QEMU's default interface) left in {@code ide} to be placed once all are known. */
    static void drive(MachineConfig.Builder b, String text, int index, boolean globalSnapshot, IdeOptions ide) {
        QemuOpts opts = QemuOpts.parse("-drive", text, null);
        String file = opts.take("file");
        if (file == null || file.isEmpty()) {
            throw new CliException("-drive " + text + ": a file= is needed (jkvm has no removable media yet)");
        }
        String iface = opts.take("if", "ide");
        if (!iface.equals("ide") && !iface.equals("virtio") && !iface.equals("none")) {
            throw new CliException("-drive " + text + ": if=" + iface + " is not supported yet; use if=ide, if=virtio, or if=none with -device virtio-blk-pci");
        }
        IdeOptions.Position ideAt = iface.equals("ide") ? IdeOptions.position(opts, "-drive " + text) : null;
        boolean cdrom = ideAt != null && ideAt.cdrom();
        String id = opts.take("id", ideAt != null ? null : (iface.equals("virtio") ? "virtio" : "none") + index);
        String format = opts.take("format", "raw");
        if (!format.equals("raw")) {
            throw new CliException("-drive " + text + ": format=" + format + " is not supported yet (raw is)");
        }
        CacheMode cache;
        try {
            cache = CacheMode.parse(opts.take("cache", "writeback"));
        } catch (IllegalArgumentException e) {
            throw new CliException("-drive " + text + ": " + e.getMessage());
        }
        String aio = opts.take("aio", "threads");
        if (!aio.equals("threads") && !aio.equals("io_uring") && !aio.equals("native")) {
            throw new CliException("-drive " + text + ": invalid aio option '" + aio + "' (threads, io_uring)");
        }
        // media=cdrom is read-only, as in QEMU, and has nothing to snapshot.
        boolean readOnly = opts.takeBoolean("readonly", false) || cdrom;
        boolean snapshot = opts.takeBoolean("snapshot", globalSnapshot) && !cdrom;
        String discard = opts.take("discard", "ignore");
        if (!Set.of("unmap", "on", "ignore", "off").contains(discard)) {
            throw new CliException("-drive " + text + ": invalid discard option '" + discard + "' (unmap, ignore)");
        }
        String serial = opts.take("serial");
        opts.requireAllTaken("");
        DriveOptions drive;
        try {
            drive = new DriveOptions(id, Path.of(file), format, cache, aio, readOnly, snapshot,
                    discard.equals("unmap") || discard.equals("on"), serial);
        } catch (IllegalArgumentException e) {
            throw new CliException("-drive " + text + ": " + e.getMessage());
        }
        if (ideAt != null) {
            ide.add("-drive " + text, drive, ideAt);
            return;
        }
        b.drive(drive);
        if (iface.equals("virtio")) {
            b.device(new DeviceConfig.VirtioBlkPci(id, 0, 256, -1, null));
        }
    }

    /** A PCI address as QEMU's addr= takes it: "5", "0x5", "05.0" (slot, function 0). */
    static int pciSlot(String text, String context) {
        String slot = text.contains(".") ? text.substring(0, text.indexOf('.')) : text;
        String fn = text.contains(".") ? text.substring(text.indexOf('.') + 1) : "0";
        try {
            int s = Integer.decode(slot.startsWith("0x") ? slot : "0x" + slot);
            if (!fn.equals("0") || s < 0 || s > 31) {
                throw new NumberFormatException();
            }
            return s;
        } catch (NumberFormatException e) {
            throw new CliException(context + ": addr=" + text + " is not a PCI slot (00-1f, function 0)");
        }
    }

    static DeviceConfig device(String text) {
        QemuOpts opts = QemuOpts.parse("-device", text, "driver");
        String driver = opts.take("driver", "");
        if (driver.equals("virtio-blk-pci")) {
            String drive = opts.take("drive");
            if (drive == null) {
                throw new CliException("-device " + text + ": drive= is needed (the id of a -drive)");
            }
            int queues = (int) opts.takeNumber("num-queues", 0);
            int queueSize = (int) opts.takeNumber("queue-size", 256);
            String addr = opts.take("addr");
            int slot = addr == null ? -1 : pciSlot(addr, "-device " + driver);
            String serial = opts.take("serial");
            opts.requireAllTaken(driver);
            try {
                return new DeviceConfig.VirtioBlkPci(drive, queues, queueSize, slot, serial);
            } catch (dev.jkvm.machine.MachineException e) {
                throw new CliException("-device " + text + ": " + e.getMessage());
            }
        }
        if (NetOptions.isNicDriver(driver)) {
            return NetOptions.nicDevice(driver, opts, text);
        }
        if (driver.equals("isa-debug-exit")) {
            long iobase = opts.takeNumber("iobase", 0x501);
            long iosize = opts.takeNumber("iosize", 2);
            opts.requireAllTaken(driver);
            if (iobase < 0 || iobase > 0xffff || iosize < 1 || iosize > 8 || iobase + iosize > 0x10000) {
                throw new CliException(String.format(Locale.ROOT, "-device %s: iobase=0x%x iosize=%d does not fit in the 64 KiB I/O space", text, iobase, iosize));
            }
            return new DeviceConfig.IsaDebugExit((int) iobase, (int) iosize);
        }
        if (driver.isEmpty()) {
            throw new CliException("-device " + text + ": no device model name");
        }
        if (PLANNED_DEVICES.contains(driver)) {
            throw new CliException("-device " + driver + ": not supported yet");
        }
        throw new CliException("-device " + driver + ": '" + driver + "' is not a valid device model name");
    }
}
