package dev.jkvm.devices.legacy.platform;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ResetPortsTest {
    @Test
    void cf9ResetsOnlyWhenBit2IsWritten() {
        Recorders.Vm vm = new Recorders.Vm();
        PiixResetControl rcr = new PiixResetControl(vm);
        rcr.write(0, 1, 0x02);
        assertTrue(vm.resets.isEmpty());
        assertEquals(0x02, rcr.read(0, 1), "the reset type is kept");
        rcr.write(0, 1, AcpiHardware.RESET_VALUE);
        assertEquals(1, vm.resets.size());
        assertTrue(vm.resets.get(0).contains("hard"), vm.resets.get(0));
        assertEquals(0x02, rcr.read(0, 1), "bit 2 is a strobe");
        rcr.write(0, 1, 0x04);
        assertTrue(vm.resets.get(1).contains("soft"), vm.resets.get(1));
        rcr.reset();
        assertEquals(0, rcr.read(0, 1));
    }

    @Test
    void port92ResetsOnARisingBitZero() {
        Recorders.Vm vm = new Recorders.Vm();
        SystemControlPortA p92 = new SystemControlPortA(vm);
        assertEquals(0x02, p92.read(0, 1), "A20 on");
        p92.write(0, 1, 0x02);
        assertTrue(vm.resets.isEmpty());
        p92.write(0, 1, 0x03);
        assertEquals(1, vm.resets.size());
        p92.write(0, 1, 0x03);
        assertEquals(1, vm.resets.size(), "bit 0 already set: no new edge");
        p92.reset();
        p92.write(0, 1, 0x01);
        assertEquals(2, vm.resets.size());
    }

    @Test
    void postPortSwallowsWrites() {
        IoSink sink = new IoSink();
        sink.write(0, 1, 0x55);
        assertEquals(0, sink.read(0, 1));
        assertEquals(0x55, sink.lastWrite());
    }
}
