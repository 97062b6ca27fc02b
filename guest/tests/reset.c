/* On request only: resets the machine by `reset.method=`:
 *   i8042  controller command 0xFE (pulse the reset line; the default),
 *   cf9    PIIX reset control: 0x02 then 0x06 to port 0xCF9 (ACPI's reset register),
 *   92     port 0x92 bit 0 from 0 to 1 (fast reset).
 * Prints RESET-NOW method=<m> first. With -no-reboot the VMM exits; otherwise the machine reboots
 * and the guest runs its tests again. CMOS NVRAM survives a reset (on a PC and in QEMU), so the
 * first boot leaves a mark in two unused CMOS bytes and the second boot, finding it, passes.
 * If the guest is still running a few seconds after asking for a reset, the test fails. */
#include "tests/test.h"
#include "lib/cmdline.h"
#include "lib/cpu.h"
#include "lib/io.h"
#include "lib/platform.h"
#include "lib/printf.h"
#include "lib/string.h"
#include "lib/tsc.h"

/* CMOS bytes 0x7e/0x7f are free in QEMU's and jkvm's CMOS map. */
#define MARK_INDEX 0x7e
#define MARK_LO 0x4a
#define MARK_HI 0x6b

static uint8_t cmos_get(uint8_t index)
{
    outb(0x70, index);
    return inb(0x71);
}

static void cmos_put(uint8_t index, uint8_t v)
{
    outb(0x70, index);
    outb(0x71, v);
}

bool test_reset(struct test_result *r)
{
    if (cmos_get(MARK_INDEX) == MARK_LO && cmos_get(MARK_INDEX + 1) == MARK_HI) {
        cmos_put(MARK_INDEX, 0);
        cmos_put(MARK_INDEX + 1, 0);
        detail(r, "rebooted");
        return true;
    }
    const char *method = cmdline_get("reset.method");
    if (!method || !*method)
        method = "i8042";
    if (strcmp(method, "i8042") != 0 && strcmp(method, "cf9") != 0 && strcmp(method, "92") != 0)
        return fail(r, "unknown reset.method=%s (i8042, cf9 or 92)", method);
    cmos_put(MARK_INDEX, MARK_LO);
    cmos_put(MARK_INDEX + 1, MARK_HI);
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
