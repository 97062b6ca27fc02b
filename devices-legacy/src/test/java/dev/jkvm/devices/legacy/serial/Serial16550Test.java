package dev.jkvm.devices.legacy.serial;

import dev.jkvm.vmm.device.InterruptLine;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;

import static dev.jkvm.devices.legacy.serial.Serial16550.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Serial16550Test {
    /** Remembers every level the UART drove its line to. */
    static final class Line implements InterruptLine {
        final List<Boolean> levels = new ArrayList<>();

        @Override
        public synchronized void set(boolean level) {
            levels.add(level);
        }

        synchronized boolean high() {
            return !levels.isEmpty() && levels.get(levels.size() - 1);
        }
    }

    private Line line;
    private SerialCapture capture;
    private Serial16550 uart;

    @BeforeEach
    void setUp() {
        line = new Line();
        capture = new SerialCapture();
        uart = new Serial16550(line, capture);
    }

    private int in(int reg) {
        return (int) uart.read(reg, 1);
    }

    private void out(int reg, int v) {
        uart.write(reg, 1, v);
    }

    @Test
    void transmittedBytesReachTheBackend() {
        for (char c : "hi\n".toCharArray()) {
            assertTrue((in(LSR) & LSR_THRE) != 0, "THR empty before each byte");
            out(RBR_THR_DLL, c);
        }
        assertEquals("hi\n", capture.text());
        assertEquals(LSR_THRE | LSR_TEMT, in(LSR));
    }

    @Test
    void scratchAndDivisorLatchHoldWhatIsWritten() {
        out(SCR, 0xa5);
        assertEquals(0xa5, in(SCR));
        out(LCR, LCR_DLAB | 0x03);
        out(RBR_THR_DLL, 0x01);
        out(IER_DLM, 0x02);
        assertEquals(0x01, in(RBR_THR_DLL));
        assertEquals(0x02, in(IER_DLM));
        out(LCR, 0x03);
        assertEquals(0, in(IER_DLM), "IER is separate from DLM");
        out(RBR_THR_DLL, 'z');
        assertEquals("z", capture.text(), "with DLAB clear, offset 0 is THR again");
    }

    @Test
    void fifoEnableShowsInIir() {
        assertEquals(IIR_NONE, in(IIR_FCR));
        out(IIR_FCR, FCR_ENABLE);
        assertEquals(IIR_FIFO_ENABLED | IIR_NONE, in(IIR_FCR));
    }

    @Test
    void loopbackReturnsBytesAndMirrorsModemControl() {
        out(IIR_FCR, FCR_ENABLE);
        out(MCR, MCR_LOOP | MCR_DTR | MCR_OUT2);
        in(MSR);
        out(RBR_THR_DLL, 'A');
        out(RBR_THR_DLL, 'B');
        assertEquals("", capture.text(), "loopback keeps bytes off the line");
        assertTrue((in(LSR) & LSR_DR) != 0);
        assertEquals('A', in(RBR_THR_DLL));
        assertEquals('B', in(RBR_THR_DLL));
        assertEquals(0, in(LSR) & LSR_DR);
        assertEquals(MSR_DSR | MSR_DCD, in(MSR) & 0xf0);
        out(MCR, MCR_LOOP | MCR_RTS | MCR_OUT1);
        int msr = in(MSR);
        assertEquals(MSR_CTS | MSR_RI, msr & 0xf0);
        assertEquals(0x01 | 0x02 | 0x08, msr & 0x0f, "delta CTS, DSR and DCD");
        assertEquals(0, in(MSR) & 0x0f, "deltas clear on read");
        out(MCR, MCR_OUT2);
        assertEquals(MSR_CTS | MSR_DSR | MSR_DCD, in(MSR) & 0xf0, "a connected line outside loopback");
    }

    @Test
    void receiveFifoOverrunsAfterSixteenBytes() {
        out(IIR_FCR, FCR_ENABLE);
        out(MCR, MCR_LOOP);
        for (int i = 0; i < 17; i++) {
            out(RBR_THR_DLL, i);
        }
        int lsr = in(LSR);
        assertTrue((lsr & LSR_OE) != 0, "overrun");
        assertEquals(0, in(LSR) & LSR_OE, "overrun clears on read");
        for (int i = 0; i < 16; i++) {
            assertEquals(i, in(RBR_THR_DLL));
        }
    }

    @Test
    void hostInputRaisesTheReceiveInterrupt() {
        out(IER_DLM, IER_RDA);
        assertFalse(line.high());
        assertEquals(3, uart.receive("abc".getBytes(), 0, 3) + 2, "without FIFO one byte fits");
        assertTrue(line.high());
        assertEquals(IIR_RDA, in(IIR_FCR));
        assertEquals('a', in(RBR_THR_DLL));
        assertFalse(line.high(), "line drops once the byte is read");
        out(IIR_FCR, FCR_ENABLE | 0x40);
        assertEquals(3, uart.receive("xyz".getBytes(), 0, 3));
        assertEquals(IIR_FIFO_ENABLED | IIR_TIMEOUT, in(IIR_FCR), "below the trigger level (4) the FIFO reports a timeout");
        assertEquals(1, uart.receive("!".getBytes(), 0, 1));
        assertEquals(IIR_FIFO_ENABLED | IIR_RDA, in(IIR_FCR), "at the trigger level it reports data available");
    }

    @Test
    void inputIsHeldBackInLoopback() {
        out(MCR, MCR_LOOP);
        assertEquals(0, uart.receive(new byte[] {1}, 0, 1));
    }

    @Test
    void thrEmptyInterruptRaisesOnEnableAndClearsOnIirRead() {
        out(IER_DLM, IER_THRE);
        assertTrue(line.high());
        assertEquals(IIR_THRE, in(IIR_FCR));
        assertFalse(line.high(), "reading IIR acknowledges THRE");
        out(RBR_THR_DLL, 'q');
        assertTrue(line.high(), "THR is empty again right after a write");
        int n = line.levels.size();
        assertEquals(List.of(false, true), line.levels.subList(n - 2, n), "a write gives a fresh rising edge");
    }

    @Test
    void wideAccessesReadAsAllOnes() {
        assertEquals(0xffff, uart.read(LSR, 2));
    }

    @Test
    void captureWaitsForPatternsAndTimesOut() throws Exception {
        Thread.ofPlatform().start(() -> {
            for (char c : "RESULT 3 passed, 0 failed\n".toCharArray()) {
                out(RBR_THR_DLL, c);
            }
        });
        assertEquals("3", capture.waitFor(Pattern.compile("RESULT (\\d+) passed"), Duration.ofSeconds(10)).group(1));
        TimeoutException e = assertThrows(TimeoutException.class, () -> capture.waitFor(Pattern.compile("never"), Duration.ofMillis(50)));
        assertTrue(e.getMessage().contains("RESULT 3"), "the timeout message shows the output so far");
    }

    @Test
    void captureStreamDeliversOutputThenEndsOnClose() throws Exception {
        out(RBR_THR_DLL, 'o');
        out(RBR_THR_DLL, 'k');
        var stream = capture.stream();
        assertEquals('o', stream.read());
        assertEquals('k', stream.read());
        capture.close();
        assertEquals(-1, stream.read());
    }

    @Test
    void captureSendFeedsTheReceiver() throws Exception {
        capture.connect(uart, () -> { });
        out(IIR_FCR, FCR_ENABLE);
        capture.send("hello world, more than sixteen bytes");
        StringBuilder got = new StringBuilder();
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (got.length() < 36 && System.nanoTime() < deadline) {
            if ((in(LSR) & LSR_DR) != 0) {
                got.append((char) in(RBR_THR_DLL));
            } else {
                uart.awaitRoom(10);
            }
        }
        assertEquals("hello world, more than sixteen bytes", got.toString());
        capture.close();
    }
}
