package dev.jkvm.cli;

import dev.jkvm.backends.block.CacheMode;
import dev.jkvm.backends.block.DriveOptions;
import dev.jkvm.machine.DeviceConfig;
import dev.jkvm.machine.MachineConfig;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * IDE drives as QEMU's pc machine takes them: {@code -drive if=ide} (QEMU's default interface) with
 * {@code index=N} or {@code bus=B,unit=U} and {@code media=disk|cdrom}, and the shortcuts
 * {@code -hda}..{@code -hdd} (index 0-3: primary master, primary slave, secondary master,
 * secondary slave) and {@code -cdrom FILE} (index 2, media=cdrom). A CD-ROM is read-only. Drives
 * with a position keep it; the others get the first free one, in command-line order (QEMU would
 * refuse a later explicit index that an earlier automatic one took; here the explicit one wins).
 * Drives without id= are named as QEMU names them: ide0-hd0, ide1-cd0, ...
 */
final class IdeOptions {
    static final int POSITIONS = 4;

    /** Where a drive goes: bus and unit, -1 where the first free one will do. */
    record Position(int bus, int unit, boolean cdrom) {
        int index() {
            return bus * 2 + unit;
        }
    }

    private record Pending(String context, DriveOptions drive, Position position) {
    }

    private final List<Pending> pending = new ArrayList<>();

    /** Takes index=, bus=, unit= and media= from an if=ide -drive. */
    static Position position(QemuOpts opts, String context) {
        String media = opts.take("media", "disk");
        boolean cdrom = switch (media) {
            case "disk" -> false;
            case "cdrom" -> true;
            default -> throw new CliException(context + ": invalid media '" + media + "' (disk or cdrom)");
        };
        long index = opts.takeNumber("index", -1);
        long bus = opts.takeNumber("bus", -1);
        long unit = opts.takeNumber("unit", -1);
        if (index != -1 && (bus != -1 || unit != -1)) {
            throw new CliException(context + ": index= cannot be used with bus= and unit=");
        }
        if (index != -1) {
            if (index < 0 || index >= POSITIONS) {
                throw new CliException(context + ": index=" + index + " is not an IDE position (0-3: -hda..-hdd)");
            }
            return new Position((int) index / 2, (int) index % 2, cdrom);
        }
        if (bus < -1 || bus > 1) {
            throw new CliException(context + ": bus=" + bus + " is not an IDE bus (0 or 1)");
        }
        if (unit < -1 || unit > 1) {
            throw new CliException(context + ": unit=" + unit + " is not an IDE unit (0 or 1)");
        }
        if (unit != -1 && bus == -1) {
            bus = 0;
        }
        return new Position((int) bus, (int) unit, cdrom);
    }

    /** An if=ide -drive; {@code drive.id()} may be null (named once placed). */
    void add(String context, DriveOptions drive, Position position) {
        pending.add(new Pending(context, drive, position));
    }

    /** -hda..-hdd and -cdrom. */
    void addShortcuts(JkvmOptions o) {
        String[] disks = {o.hda, o.hdb, o.hdc, o.hdd};
        String[] names = {"-hda", "-hdb", "-hdc", "-hdd"};
        for (int i = 0; i < disks.length; i++) {
            if (disks[i] != null) {
                add(names[i] + " " + disks[i], shortcut(names[i], disks[i], false, o.snapshot), new Position(i / 2, i % 2, false));
            }
        }
        if (o.cdrom != null) {
            add("-cdrom " + o.cdrom, shortcut("-cdrom", o.cdrom, true, false), new Position(1, 0, true));
        }
    }

    private static DriveOptions shortcut(String option, String file, boolean cdrom, boolean snapshot) {
        if (file.isEmpty()) {
            throw new CliException(option + ": a file name is needed (jkvm has no removable media yet)");
        }
        return new DriveOptions(null, Path.of(file), "raw", CacheMode.WRITEBACK, "threads", cdrom, snapshot, false, null);
    }

    /** Places every IDE drive, names it, and adds the drive and its IDE device to the machine. */
    void apply(MachineConfig.Builder b) {
        Pending[] at = new Pending[POSITIONS];
        List<Pending> automatic = new ArrayList<>();
        for (Pending p : pending) {
            if (p.position().bus() >= 0 && p.position().unit() >= 0) {
                place(at, p, p.position());
            } else {
                automatic.add(p);
            }
        }
        for (Pending p : automatic) {
            Position want = p.position();
            Position free = null;
            for (int i = 0; i < POSITIONS && free == null; i++) {
                if (at[i] == null && (want.bus() < 0 || i / 2 == want.bus())) {
                    free = new Position(i / 2, i % 2, want.cdrom());
                }
            }
            if (free == null) {
                throw new CliException(p.context() + ": no free IDE position" + (want.bus() >= 0 ? " on bus " + want.bus() : "")
                        + " (there are 4: -hda..-hdd)");
            }
            place(at, p, free);
        }
        for (int i = 0; i < POSITIONS; i++) {
            Pending p = at[i];
            if (p == null) {
                continue;
            }
            int bus = i / 2;
            int unit = i % 2;
            boolean cdrom = p.position().cdrom();
            DriveOptions d = p.drive();
            String id = d.id() != null ? d.id() : "ide" + bus + "-" + (cdrom ? "cd" : "hd") + unit;
            b.drive(new DriveOptions(id, d.file(), d.format(), d.cache(), d.aio(), d.readOnly(), d.snapshot(), d.discard(), d.serial()));
            b.device(new DeviceConfig.IdeDrive(id, bus, unit, cdrom));
        }
    }

    private static void place(Pending[] at, Pending p, Position where) {
        int index = where.index();
        if (at[index] != null) {
            throw new CliException(p.context() + ": IDE index " + index + " (bus " + where.bus() + ", unit " + where.unit()
                    + ") is already taken by " + at[index].context());
        }
        at[index] = new Pending(p.context(), p.drive(), where);
    }
}
