/* Exercises the 16550A on COM1 directly: scratch register, divisor latch, FIFO
 * detection and loopback (data path and modem-control lines). Nothing is printed
 * while it runs; the UART is back in its normal state before the result line. */
#include "tests/test.h"
#include "lib/io.h"
#include "lib/serial.h"

static uint8_t rd(int reg) { return inb(COM1 + reg); }
static void wr(int reg, uint8_t v) { outb(COM1 + reg, v); }

static bool check_scratch(struct test_result *r)
{
    static const uint8_t values[] = {0x00, 0x55, 0xaa, 0xff, 0x5a};
    for (unsigned i = 0; i < sizeof(values); i++) {
        wr(UART_SCR, values[i]);
        uint8_t got = rd(UART_SCR);
        if (got != values[i])
            return fail(r, "scratch: wrote 0x%x read 0x%x", values[i], got);
    }
    detail(r, "scratch");
    return true;
}

static bool check_dlab(struct test_result *r)
{
    uint8_t lcr = rd(UART_LCR);
    wr(UART_LCR, lcr | LCR_DLAB);
    wr(UART_DLL, 0x34);
    wr(UART_DLM, 0x12);
    uint8_t dll = rd(UART_DLL), dlm = rd(UART_DLM);
    wr(UART_DLL, UART_DIVISOR_115200 & 0xff);
    wr(UART_DLM, UART_DIVISOR_115200 >> 8);
    uint8_t dll2 = rd(UART_DLL), dlm2 = rd(UART_DLM);
    wr(UART_LCR, lcr);
    uint8_t lcr2 = rd(UART_LCR);
    if (dll != 0x34 || dlm != 0x12)
        return fail(r, ",dlab: divisor 0x1234 read back as 0x%x%02x", dlm, dll);
    if (dll2 != (UART_DIVISOR_115200 & 0xff) || dlm2 != 0)
        return fail(r, ",dlab: restored divisor reads 0x%x%02x", dlm2, dll2);
    if (lcr2 != lcr)
        return fail(r, ",dlab: LCR 0x%x after restore, want 0x%x", lcr2, lcr);
    /* With DLAB clear again, offset 1 must be IER (we keep it 0), not DLM. */
    if (rd(UART_IER) != 0)
        return fail(r, ",dlab: IER reads 0x%x after DLAB cleared", rd(UART_IER));
    detail(r, ",dlab");
    return true;
}

static bool check_fifo(struct test_result *r)
{
    wr(UART_FCR, FCR_ENABLE_CLEAR);
    uint8_t iir = rd(UART_IIR);
    if ((iir & 0xc0) != 0xc0)
        return fail(r, ",fifo: IIR 0x%x, bits 7:6 should be 11 with FIFOs enabled", iir);
    detail(r, ",fifo");
    return true;
}

static void drain_rx(void)
{
    for (int i = 0; i < 64 && (rd(UART_LSR) & LSR_DR); i++)
        rd(UART_RBR);
}

static bool wait_rx(void)
{
    for (int i = 0; i < 10000; i++)
        if (rd(UART_LSR) & LSR_DR)
            return true;
    return false;
}

/* MSR high nibble in loopback: DCD = OUT2, RI = OUT1, DSR = DTR, CTS = RTS. */
static uint8_t loop_msr(uint8_t mcr_bits)
{
    return (uint8_t)(((mcr_bits & MCR_OUT2) ? 0x80 : 0) | ((mcr_bits & MCR_OUT1) ? 0x40 : 0) |
                     ((mcr_bits & MCR_DTR) ? 0x20 : 0) | ((mcr_bits & MCR_RTS) ? 0x10 : 0));
}

static bool loopback_body(struct test_result *r)
{
    static const uint8_t bytes[] = {0x00, 0x5a, 0xa5, 0xff, 'j', 'k', 'v', 'm'};

    /* One byte at a time: LSR.DR follows the receive buffer. */
    for (unsigned i = 0; i < sizeof(bytes); i++) {
        wr(UART_THR, bytes[i]);
        if (!wait_rx())
            return fail(r, ",loopback: byte 0x%x never arrived (LSR 0x%x)", bytes[i], rd(UART_LSR));
        uint8_t got = rd(UART_RBR);
        if (got != bytes[i])
            return fail(r, ",loopback: sent 0x%x received 0x%x", bytes[i], got);
        if (rd(UART_LSR) & LSR_DR)
            return fail(r, ",loopback: LSR.DR still set after reading 0x%x", got);
    }
    /* A burst that fits the 16-byte FIFO comes back in order. */
    for (unsigned i = 0; i < sizeof(bytes); i++) {
        for (int j = 0; j < 10000 && !(rd(UART_LSR) & LSR_THRE); j++)
            ;
        wr(UART_THR, bytes[i]);
    }
    for (unsigned i = 0; i < sizeof(bytes); i++) {
        if (!wait_rx())
            return fail(r, ",loopback: burst byte %u missing", i);
        uint8_t got = rd(UART_RBR);
        if (got != bytes[i])
            return fail(r, ",loopback: burst byte %u is 0x%x, want 0x%x", i, got, bytes[i]);
    }
    /* Modem-control outputs are wired back to the modem-status inputs. */
    static const uint8_t mcrs[] = {0, MCR_DTR, MCR_RTS, MCR_OUT1, MCR_OUT2, MCR_DTR | MCR_OUT1,
                                   MCR_RTS | MCR_OUT2, MCR_DTR | MCR_RTS | MCR_OUT1 | MCR_OUT2};
    for (unsigned i = 0; i < sizeof(mcrs); i++) {
        wr(UART_MCR, MCR_LOOP | mcrs[i]);
        uint8_t msr = rd(UART_MSR) & 0xf0;
        if (msr != loop_msr(mcrs[i]))
            return fail(r, ",loopback: MCR 0x%x gives MSR 0x%x, want 0x%x", MCR_LOOP | mcrs[i], msr,
                        loop_msr(mcrs[i]));
    }
    detail(r, ",loopback");
    return true;
}

static bool check_loopback(struct test_result *r)
{
    uint8_t mcr = rd(UART_MCR);
    wr(UART_MCR, MCR_LOOP | MCR_DTR | MCR_RTS);
    drain_rx();
    bool ok = loopback_body(r);
    drain_rx();
    wr(UART_MCR, mcr);
    rd(UART_MSR);                       /* clear the delta bits the test caused */
    return ok;
}

bool test_serial(struct test_result *r)
{
    bool ok = check_scratch(r) && check_dlab(r) && check_fifo(r) && check_loopback(r);
    serial_init();                      /* known state for the result line, pass or fail */
    return ok;
}
