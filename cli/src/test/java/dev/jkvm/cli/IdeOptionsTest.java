package dev.jkvm.cli;

import dev.jkvm.backends.block.DriveOptions;
import dev.jkvm.machine.DeviceConfig;
import dev.jkvm.machine.MachineConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** -hda..-hdd, -cdrom and -drive if=ide mapped to IDE positions as QEMU maps them, without booting anything. */
class IdeOptionsTest {
    private static MachineConfig parse(String... args) {
        return OptionsTest.parse(args);
    }

    private static List<DeviceConfig.IdeDrive> ide(MachineConfig c) {
        return c.devices().stream().filter(d -> d instanceof DeviceConfig.IdeDrive).map(d -> (DeviceConfig.IdeDrive) d).toList();
    }

    private static DriveOptions drive(MachineConfig c, String id) {
        return c.drives().stream().filter(d -> d.id().equals(id)).findFirst().orElseThrow(() -> new AssertionError("no drive " + id));
    }

    private static String error(String... args) {
        return assertThrows(CliException.class, () -> parse(args)).getMessage();
    }

    @Test
    void hdaToHddAreTheFourPositions() {
        MachineConfig c = parse("-kernel", "k", "-hda", "a.img", "-hdb", "b.img", "-hdc", "c.img", "-hdd", "d.img");
        assertEquals(List.of(new DeviceConfig.IdeDrive("ide0-hd0", 0, 0, false), new DeviceConfig.IdeDrive("ide0-hd1", 0, 1, false),
                new DeviceConfig.IdeDrive("ide1-hd0", 1, 0, false), new DeviceConfig.IdeDrive("ide1-hd1", 1, 1, false)), ide(c));
        DriveOptions a = drive(c, "ide0-hd0");
        assertEquals(Path.of("a.img"), a.file());
        assertEquals("raw", a.format());
        assertFalse(a.readOnly());
        assertEquals(Path.of("d.img"), drive(c, "ide1-hd1").file());
    }

    @Test
    void cdromIsAReadOnlySecondaryMaster() {
        MachineConfig c = parse("-kernel", "k", "-cdrom", "x.iso", "-snapshot");
        assertEquals(List.of(new DeviceConfig.IdeDrive("ide1-cd0", 1, 0, true)), ide(c));
        DriveOptions d = drive(c, "ide1-cd0");
        assertTrue(d.readOnly());
        assertFalse(d.snapshot(), "a read-only medium has nothing to snapshot");
        assertEquals(Path.of("x.iso"), d.file());
    }

    @Test
    void snapshotAppliesToIdeDisks() {
        assertTrue(drive(parse("-kernel", "k", "-snapshot", "-hda", "a.img"), "ide0-hd0").snapshot());
        assertTrue(drive(parse("-kernel", "k", "-snapshot", "-drive", "file=a.img"), "ide0-hd0").snapshot());
    }

    @Test
    void ideIsTheDefaultInterfaceAndIndexPicksThePosition() {
        MachineConfig c = parse("-kernel", "k", "-drive", "file=a.img,format=raw", "-drive", "file=b.iso,if=ide,index=3,media=cdrom");
        assertEquals(List.of(new DeviceConfig.IdeDrive("ide0-hd0", 0, 0, false), new DeviceConfig.IdeDrive("ide1-cd1", 1, 1, true)), ide(c));
        assertTrue(drive(c, "ide1-cd1").readOnly());
    }

    @Test
    void busAndUnitWork() {
        MachineConfig c = parse("-kernel", "k", "-drive", "file=a.img,if=ide,bus=1,unit=1,id=mine",
                "-drive", "file=b.img,if=ide,bus=1");
        assertEquals(List.of(new DeviceConfig.IdeDrive("ide1-hd0", 1, 0, false), new DeviceConfig.IdeDrive("mine", 1, 1, false)), ide(c));
    }

    @Test
    void drivesWithoutAnIndexTakeTheFirstFreePosition() {
        MachineConfig c = parse("-kernel", "k", "-drive", "file=x.img", "-hda", "a.img", "-cdrom", "c.iso", "-drive", "file=y.img,if=ide");
        assertEquals(List.of(new DeviceConfig.IdeDrive("ide0-hd0", 0, 0, false), new DeviceConfig.IdeDrive("ide0-hd1", 0, 1, false),
                new DeviceConfig.IdeDrive("ide1-cd0", 1, 0, true), new DeviceConfig.IdeDrive("ide1-hd1", 1, 1, false)), ide(c));
        assertEquals(Path.of("a.img"), drive(c, "ide0-hd0").file(), "an explicit index keeps its place");
        assertEquals(Path.of("x.img"), drive(c, "ide0-hd1").file());
        assertEquals(Path.of("y.img"), drive(c, "ide1-hd1").file());
    }

    @Test
    void driveOptionsStillApply() {
        MachineConfig c = parse("-kernel", "k", "-drive", "file=a.img,if=ide,index=1,cache=none,serial=SN-1,aio=io_uring");
        DriveOptions d = drive(c, "ide0-hd1");
        assertEquals("SN-1", d.serial());
        assertEquals("io_uring", d.aio());
        assertEquals(dev.jkvm.backends.block.CacheMode.NONE, d.cache());
    }

    @Test
    void virtioAndNoneDrivesAreUnchanged() {
        MachineConfig c = parse("-kernel", "k", "-drive", "file=v.img,if=virtio", "-drive", "file=n.img,if=none,id=n");
        assertTrue(ide(c).isEmpty());
        assertEquals("virtio0", c.drives().get(0).id());
        assertEquals(new DeviceConfig.VirtioBlkPci("virtio0", 0, 256, -1, null), c.devices().get(0));
    }

    @Test
    void badPositionsAreOneLineErrors() {
        assertTrue(error("-kernel", "k", "-hdc", "a.img", "-cdrom", "b.iso").contains("IDE index 2"));
        assertTrue(error("-kernel", "k", "-drive", "file=a,index=4").contains("index=4"));
        assertTrue(error("-kernel", "k", "-drive", "file=a,index=1,bus=0,unit=1").contains("index= cannot be used"));
        assertTrue(error("-kernel", "k", "-drive", "file=a,bus=2").contains("bus=2"));
        assertTrue(error("-kernel", "k", "-drive", "file=a,media=floppy").contains("media 'floppy'"));
        assertTrue(error("-kernel", "k", "-drive", "file=a,if=scsi").contains("if=scsi"));
        assertTrue(error("-kernel", "k", "-drive", "file=a,if=virtio,media=cdrom").contains("media"));
        String full = error("-kernel", "k", "-hda", "a", "-hdb", "b", "-hdc", "c", "-hdd", "d", "-drive", "file=e");
        assertTrue(full.contains("no free IDE position"), full);
        assertTrue(error("-kernel", "k", "-drive", "file=a,bus=0", "-drive", "file=b,bus=0", "-drive", "file=c,bus=0")
                .contains("on bus 0"));
        for (String m : List.of(full)) {
            assertEquals(1, m.lines().count());
        }
    }
}
