/* On request only: resets the machine by `reset.method=`:
 *   i8042  controller command 0xFE (pulse the reset line; the default),
 *   cf9    PIIX reset control: 0x02 then 0x06 to port 0xCF9 (ACPI's reset register),
 *   92     port 0x92 bit 0 from 0 to 1 (fast reset).
 * Prints RESET-NOW method=<m> first. The VMM must reset (or, with -no-reboot, exit); if the guest
 * is still running a few seconds later the test fails. */
#include "tests/test.h"
#include "lib/cmdline.h"
#include "lib/cpu.h"
#include "lib/io.h"
#include "lib/platform.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "lib/tsc.h"

bool test_reset(struct test_result *r)
{
    const char *method = cmdline_get("reset.method");
    if (!method || !*method)
        method = "i8042";
    if (strcmp(method, "i8042") != 0 && strcmp(method, "cf9") != 0 && strcmp(method, "92") != 0)
        return fail(r, "unknown reset.method=%s (i8042, cf9 or 92)", method);
    printf("RESET-NOW method=%s\n", method);
    if (strcmp(method, "i8042") == 0) {
        kbc_wait_write(100);
        outb(KBC_CMD, 0xfe);
    } else if (strcmp(method, "cf9") == 0) {
        outb(0xcf9, 0x02);
        outb(0xcf9, 0x06);
    } else {
        uint8_t v = inb(0x92);
        outb(0x92, v & ~1);
        outb(0x92, v | 1);
    }
    tsc_delay_ms_at_least(3000);
    return fail(r, "still running 3 s after a reset by %s", method);
}
