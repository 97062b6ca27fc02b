/* Holds the guest until the host types one byte on COM1 (or about a minute passes), so a host
 * tool can look at the VMM while a guest runs. Prints "WAITING" first so the tool knows when. */
#include "tests/test.h"
#include "lib/io.h"
#include "lib/printf.h"
#include "lib/serial.h"
#include "lib/tsc.h"

bool test_wait(struct test_result *r)
{
    printf("WAITING for one byte on COM1\n");
    /* At least 60 s whatever the TSC rate (see lib/tsc.h). */
    uint64_t deadline = rdtsc() + 60000 * TSC_MAX_PER_MS;
    while (!(inb(COM1 + UART_LSR) & LSR_DR)) {
        if ((int64_t)(rdtsc() - deadline) > 0)
            return fail(r, "no input within a minute");
        cpu_pause();
    }
    detail(r, "got 0x%02x", inb(COM1 + UART_RBR));
    return true;
}
