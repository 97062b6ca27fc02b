package dev.jkvm.devices.legacy.platform;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static dev.jkvm.devices.legacy.platform.I8042Controller.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class I8042ControllerTest {
    private Recorders.Line kbdIrq;
    private Recorders.Line auxIrq;
    private Recorders.Vm vm;
    private I8042Controller kbc;

    @BeforeEach
    void setUp() {
        kbdIrq = new Recorders.Line();
        auxIrq = new Recorders.Line();
        vm = new Recorders.Vm();
        kbc = new I8042Controller(kbdIrq, auxIrq, vm);
    }

    private int status() {
        return (int) kbc.commandPort().read(0, 1);
    }

    private void command(int c) {
        kbc.commandPort().write(0, 1, c);
    }

    private void data(int d) {
        kbc.dataPort().write(0, 1, d);
    }

    private int read() {
        return (int) kbc.dataPort().read(0, 1);
    }

    /** Every byte in the output buffer, in order. */
    private List<Integer> drain() {
        List<Integer> out = new ArrayList<>();
        while ((status() & STATUS_OBF) != 0) {
            out.add(read());
        }
        return out;
    }

    @Test
    void startsAsFirmwareLeavesIt() {
        assertEquals(STATUS_SYS | STATUS_UNLOCKED, status());
        command(CMD_READ_RAM);
        assertEquals(List.of(FIRMWARE_CCB), drain());
        assertTrue(vm.resets.isEmpty());
    }

    @Test
    void selfTestAndInterfaceTests() {
        command(CMD_SELF_TEST);
        assertTrue((status() & STATUS_OBF) != 0);
        assertTrue((status() & STATUS_COMMAND) != 0, "last write went to the command port");
        assertEquals(List.of(0x55), drain());
        assertTrue((status() & STATUS_SYS) != 0);
        command(CMD_KBD_TEST);
        assertEquals(List.of(0x00), drain());
        command(CMD_AUX_TEST);
        assertEquals(List.of(0x00), drain());
    }

    @Test
    void commandByteRoundTripAndPortEnables() {
        command(CMD_WRITE_RAM);
        data(0x47);
        assertEquals(0, status() & STATUS_COMMAND, "last write went to the data port");
        command(CMD_READ_RAM);
        assertEquals(List.of(0x47), drain());
        command(CMD_KBD_DISABLE);
        command(CMD_AUX_ENABLE);
        assertEquals(0x47 | CCB_KBD_DISABLE & ~CCB_AUX_DISABLE, kbc.commandByte());
        command(CMD_AUX_DISABLE);
        command(CMD_KBD_ENABLE);
        assertEquals(0x47 | CCB_AUX_DISABLE, kbc.commandByte());
        // Other RAM bytes are storage.
        command(CMD_WRITE_RAM + 5);
        data(0x99);
        command(CMD_READ_RAM + 5);
        assertEquals(List.of(0x99), drain());
    }

    @Test
    void keyboardResetThroughTheController() {
        data(Ps2Keyboard.CMD_RESET);
        assertEquals(List.of(0xfa, 0xaa), drain());
        assertEquals(0, status() & STATUS_AUX_OBF);
    }

    @Test
    void keyboardCommands() {
        data(Ps2Keyboard.CMD_SET_LEDS);
        data(0x07);
        assertEquals(List.of(0xfa, 0xfa), drain());
        data(Ps2Keyboard.CMD_ECHO);
        assertEquals(List.of(0xee), drain());
        data(Ps2Keyboard.CMD_DISABLE);
        data(Ps2Keyboard.CMD_ENABLE);
        assertEquals(List.of(0xfa, 0xfa), drain());
        data(Ps2Keyboard.CMD_SCANCODE_SET);
        data(0x00);
        // Translation (on, as firmware leaves it) turns set 2's reply into 0x41.
        assertEquals(List.of(0xfa, 0xfa, 0x41), drain(), "command and argument are both acknowledged");
        data(0x12);
        assertEquals(List.of(0xfe), drain(), "unknown commands ask for a resend");
    }

    @Test
    void identifyIsTranslatedOnlyWithXlate() {
        data(Ps2Keyboard.CMD_IDENTIFY);
        assertEquals(List.of(0xfa, 0xab, 0x41), drain());
        command(CMD_WRITE_RAM);
        data(kbc.commandByte() & ~CCB_XLATE);
        data(Ps2Keyboard.CMD_IDENTIFY);
        assertEquals(List.of(0xfa, 0xab, 0x83), drain());
    }

    @Test
    void mouseCommandsThroughD4() {
        command(CMD_AUX_ENABLE);
        command(CMD_WRITE_AUX);
        data(Ps2Mouse.CMD_RESET);
        assertTrue((status() & STATUS_AUX_OBF) != 0);
        assertEquals(List.of(0xfa, 0xaa, 0x00), drain());
        command(CMD_WRITE_AUX);
        data(Ps2Mouse.CMD_GET_ID);
        assertEquals(List.of(0xfa, 0x00), drain());
        command(CMD_WRITE_AUX);
        data(Ps2Mouse.CMD_ENABLE);
        assertEquals(List.of(0xfa), drain());
        // psmouse's IntelliMouse knock: sample rates 200, 100, 80, then the ID stays 0.
        for (int rate : new int[] {200, 100, 80}) {
            command(CMD_WRITE_AUX);
            data(Ps2Mouse.CMD_SAMPLE_RATE);
            command(CMD_WRITE_AUX);
            data(rate);
        }
        command(CMD_WRITE_AUX);
        data(Ps2Mouse.CMD_GET_ID);
        assertEquals(List.of(0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0x00), drain());
        command(CMD_WRITE_AUX);
        data(Ps2Mouse.CMD_STATUS);
        assertEquals(List.of(0xfa, 0x20, 2, 80), drain());
    }

    @Test
    void mouseRepliesWaitWhileTheAuxPortIsDisabled() {
        command(CMD_AUX_DISABLE);
        command(CMD_WRITE_AUX);
        data(Ps2Mouse.CMD_GET_ID);
        assertEquals(0, status() & STATUS_OBF);
        command(CMD_AUX_ENABLE);
        assertEquals(List.of(0xfa, 0x00), drain());
    }

    @Test
    void keyboardBytesWaitWhileTheKeyboardPortIsDisabled() {
        command(CMD_KBD_DISABLE);
        data(Ps2Keyboard.CMD_ECHO);
        assertEquals(0, status() & STATUS_OBF);
        command(CMD_KBD_ENABLE);
        assertEquals(List.of(0xee), drain());
    }

    @Test
    void auxLoopbackShowsAsMouseDataAndRaisesIrq12() {
        // Linux's AUX IRQ test: mouse port enabled with its interrupt, then 0xD3 0xA5.
        command(CMD_WRITE_RAM);
        data((kbc.commandByte() | CCB_AUX_INT) & ~CCB_AUX_DISABLE);
        command(CMD_WRITE_AUX_BUFFER);
        data(0xa5);
        assertEquals(STATUS_OBF | STATUS_AUX_OBF, status() & (STATUS_OBF | STATUS_AUX_OBF));
        assertTrue(auxIrq.high());
        assertFalse(kbdIrq.high());
        assertEquals(0xa5, read());
        assertFalse(auxIrq.high());
        // The loop works with the mouse port disabled too (Linux tests it that way first).
        command(CMD_AUX_DISABLE);
        command(CMD_WRITE_AUX_BUFFER);
        data(0x5a);
        assertEquals(STATUS_OBF | STATUS_AUX_OBF, status() & (STATUS_OBF | STATUS_AUX_OBF));
        assertEquals(0x5a, read());
        command(CMD_WRITE_KBD_BUFFER);
        data(0x33);
        assertEquals(STATUS_OBF, status() & (STATUS_OBF | STATUS_AUX_OBF));
        assertEquals(0x33, read());
    }

    @Test
    void everyQueuedByteGivesIrq1ANewEdge() {
        assertEquals(0, kbdIrq.edges());
        data(Ps2Keyboard.CMD_RESET);
        assertTrue(kbdIrq.high());
        read();
        assertTrue(kbdIrq.high(), "the second byte follows at once");
        read();
        assertFalse(kbdIrq.high());
        assertEquals(2, kbdIrq.edges());
        command(CMD_WRITE_RAM);
        data(kbc.commandByte() & ~CCB_KBD_INT);
        data(Ps2Keyboard.CMD_ECHO);
        assertFalse(kbdIrq.high(), "no interrupt with KBD_INT clear");
        command(CMD_WRITE_RAM);
        assertFalse(kbdIrq.high());
    }

    @Test
    void readingAnEmptyBufferReturnsTheLastByte() {
        command(CMD_SELF_TEST);
        assertEquals(0x55, read());
        assertEquals(0x55, read());
        assertEquals(0, status() & STATUS_OBF);
    }

    @Test
    void pulseResetLine() {
        command(0xff);
        assertTrue(vm.resets.isEmpty(), "0xFF pulses no line");
        command(CMD_RESET);
        assertEquals(1, vm.resets.size());
        assertTrue(vm.resets.get(0).contains("i8042"), vm.resets.get(0));
        command(0xf0);
        assertEquals(2, vm.resets.size(), "any even pulse command includes the reset line");
    }

    @Test
    void outputPortWriteWithBitZeroClearResets() {
        command(CMD_READ_OUTPUT);
        int out = read();
        assertEquals(OUT_RESET | OUT_A20, out & (OUT_RESET | OUT_A20));
        command(CMD_WRITE_OUTPUT);
        data(0xdf);
        assertTrue(vm.resets.isEmpty());
        command(CMD_WRITE_OUTPUT);
        data(0xde);
        assertEquals(1, vm.resets.size());
        command(CMD_DISABLE_A20);
        command(CMD_READ_OUTPUT);
        assertEquals(0, read() & OUT_A20);
    }

    @Test
    void outputPortShowsWhichBufferIsFull() {
        command(CMD_WRITE_AUX_BUFFER);
        data(0x01);
        command(CMD_READ_OUTPUT);
        // The aux byte is still in the buffer, so the reply waits behind it.
        assertEquals(0x01, read());
        // The port was sampled while the mouse byte sat in the buffer.
        assertEquals(OUT_AUX_OBF, read() & (OUT_OBF | OUT_AUX_OBF));
        command(CMD_READ_OUTPUT);
        assertEquals(0, read() & (OUT_OBF | OUT_AUX_OBF), "sampled with the buffer empty");
    }

    @Test
    void aGuestThatNeverReadsCannotGrowTheQueues() {
        for (int i = 0; i < 100_000; i++) {
            data(Ps2Keyboard.CMD_IDENTIFY);
            command(CMD_SELF_TEST);
            command(CMD_WRITE_AUX);
            data(Ps2Mouse.CMD_STATUS);
        }
        command(CMD_AUX_ENABLE);
        int n = drain().size();
        assertTrue(n <= 60, "bytes buffered: " + n);
    }

    @Test
    void resetRestoresFirmwareState() {
        command(CMD_WRITE_RAM);
        data(0);
        data(Ps2Keyboard.CMD_ECHO);
        kbc.reset();
        assertEquals(FIRMWARE_CCB, kbc.commandByte());
        assertEquals(0, status() & STATUS_OBF);
        assertFalse(kbdIrq.high());
    }
}
