package dev.jkvm.cli;

import dev.jkvm.machine.BootEntry;
import dev.jkvm.machine.DeviceConfig;
import dev.jkvm.machine.MachineConfig;
import dev.jkvm.machine.SerialConfig;
import dev.jkvm.vmm.cpu.CpuTopology;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** QEMU's option meanings, mapped to a machine configuration without booting anything. */
class OptionsTest {
    static MachineConfig parse(String... args) {
        return MachineOptions.toConfig(JkvmOptions.parse(args));
    }

    @Test
    void defaultsAreQemus() {
        MachineConfig c = parse("-kernel", "k.elf");
        assertEquals(128L << 20, c.memoryBytes());
        assertEquals(CpuTopology.single(), c.smp());
        assertEquals(new SerialConfig.Stdio(true), c.serial(), "no display, so COM1 goes where -nographic puts it");
        assertTrue(c.ram().mergeable(), "QEMU's mem-merge defaults to on");
        assertEquals(BootEntry.AUTO, c.entry());
        assertEquals(Path.of("k.elf"), c.kernel());
    }

    @Test
    void memorySizesTakeSuffixesAndDefaultToMiB() {
        assertEquals(64L << 20, parse("-m", "64", "-kernel", "k").memoryBytes());
        assertEquals(4L << 30, parse("-m", "4G", "-kernel", "k").memoryBytes());
        assertEquals(512L << 20, parse("-m", "size=512M", "-kernel", "k").memoryBytes());
        assertEquals(1536L << 20, parse("-m", "1.5G", "-kernel", "k").memoryBytes());
        assertEquals(256L << 20, parse("-m", "64M", "-m", "256M", "-kernel", "k").memoryBytes(), "the last -m wins, as in QEMU");
    }

    @Test
    void smpTopologyPrefersCoresAsQemu72Does() {
        assertEquals(new CpuTopology(2, 1, 2, 1, 2), parse("-smp", "2", "-kernel", "k").smp());
        assertEquals(new CpuTopology(2, 2, 1, 1, 2), parse("-smp", "2,sockets=2", "-kernel", "k").smp());
        assertEquals(new CpuTopology(4, 1, 2, 2, 4), parse("-smp", "cpus=4,threads=2", "-kernel", "k").smp());
        assertEquals(new CpuTopology(2, 1, 4, 1, 4), parse("-smp", "2,maxcpus=4", "-kernel", "k").smp());
    }

    @Test
    void serialBackends() {
        assertEquals(new SerialConfig.Stdio(false), parse("-serial", "stdio", "-kernel", "k").serial());
        assertEquals(new SerialConfig.Stdio(true), parse("-serial", "mon:stdio", "-kernel", "k").serial());
        assertEquals(new SerialConfig.ToFile(Path.of("/tmp/x.log")), parse("-serial", "file:/tmp/x.log", "-kernel", "k").serial());
        assertEquals(new SerialConfig.None(), parse("-serial", "none", "-kernel", "k").serial());
        assertEquals(new SerialConfig.Null(), parse("-serial", "null", "-kernel", "k").serial());
    }

    @Test
    void debugExitTakesQemusDefaultsAndHexProperties() {
        assertEquals(new DeviceConfig.IsaDebugExit(0x501, 2), parse("-device", "isa-debug-exit", "-kernel", "k").devices().getLast());
        assertEquals(new DeviceConfig.IsaDebugExit(0xf4, 1), parse("-device", "isa-debug-exit,iobase=0xf4,iosize=0x01", "-kernel", "k").devices().getLast());
        assertEquals(new DeviceConfig.IsaDebugExit(244, 4), parse("-device", "driver=isa-debug-exit,iobase=244,iosize=4", "-kernel", "k").devices().getLast());
    }

    @Test
    void acceptedNoOps() {
        MachineConfig c = parse("-enable-kvm", "-accel", "kvm", "-machine", "pc,accel=kvm,mem-merge=off", "-nographic",
                "-display", "none", "-name", "vm1", "-no-reboot", "-cpu", "max", "-kernel", "k", "-append", "console=ttyS0 -v");
        assertFalse(c.ram().mergeable());
        assertTrue(c.noReboot());
        assertEquals("vm1", c.name());
        assertEquals("max", c.cpuModel());
        assertEquals("console=ttyS0 -v", c.append());
    }

    @Test
    void memoryBackingOptions() {
        MachineConfig c = parse("-mem-path", "/dev/hugepages", "-mem-prealloc", "-kernel", "k");
        assertEquals(Path.of("/dev/hugepages"), c.ram().memPath());
        assertTrue(c.ram().prealloc());
    }

    @Test
    void bootEntryIsAMachineProperty() {
        assertEquals(BootEntry.PVH, parse("-machine", "pc,entry=pvh", "-kernel", "k").entry());
        assertEquals(BootEntry.LONG, parse("-M", "entry=long", "-kernel", "k").entry());
    }

    @Test
    void commasEscapeAsInQemu() {
        QemuOpts o = QemuOpts.parse("-drive", "file=a,,b.img,if=none", "file");
        assertEquals("a,b.img", o.take("file"));
        assertEquals("none", o.take("if"));
    }

    @Test
    void versionAndHelpExitZero() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertEquals(0, Main.run(new String[] {"--version"}, new PrintStream(out, true), System.err));
        assertTrue(out.toString(StandardCharsets.UTF_8).startsWith("jkvm version "));
        out.reset();
        assertEquals(0, Main.run(new String[] {"-h"}, new PrintStream(out, true), System.err));
        String help = out.toString(StandardCharsets.UTF_8);
        assertTrue(help.contains("-kernel") && help.contains("-smp") && help.contains("-device"), help);
        assertInstanceOf(String.class, help);
    }
}
