/* On request only: ACPI soft-off. Prints S5-NOW, then writes SLP_TYP = 0 (\_S5 on QEMU's PIIX4
 * and on jkvm) with SLP_EN to PM1a_CNT. The VMM must end the VM right there (exit status 0);
 * if the guest is still running a few seconds later the test fails. */
#include "tests/test.h"
#include "lib/cpu.h"
#include "lib/io.h"
#include "lib/platform.h"
#include "lib/printf.h"
#include "lib/tsc.h"

bool test_s5(struct test_result *r)
{
    uint16_t pm = pm_base();
    if (!pm)
        return fail(r, "no PIIX4 PM function with its I/O space enabled");
    uint16_t cnt = inw(pm + PM1_CNT);
    printf("S5-NOW pm1a_cnt=0x%x\n", pm + PM1_CNT);
    outw(pm + PM1_CNT, (cnt & ~PM1_CNT_SLP_TYP) | (0 << 10) | PM1_CNT_SLP_EN);
    tsc_delay_ms_at_least(3000);
    return fail(r, "still running 3 s after SLP_EN with SLP_TYP 0");
}
