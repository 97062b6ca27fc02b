package dev.jkvm.devices.legacy;

import dev.jkvm.vmm.device.VmControl;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class IsaDebugExitTest {
    @Test
    void aWriteEndsTheVmWithTheValueAndReadsReturnZero() {
        List<Long> exits = new ArrayList<>();
        IsaDebugExit dev = new IsaDebugExit(new VmControl() {
            public void debugExit(long value) {
                exits.add(value);
            }

            public void powerOff(String detail) {
                throw new AssertionError();
            }

            public void reset(String detail) {
                throw new AssertionError();
            }
        });
        assertEquals(0, dev.read(0, 1));
        dev.write(0, 1, 0x31);
        dev.write(0, 2, 0x1234);
        assertEquals(List.of(0x31L, 0x1234L), exits);
    }
}
