/* C entry for the BSP, shared by both entry paths. */
#include "boot/layout.h"
#include "boot/paging.h"
#include "lib/cmdline.h"
#include "lib/cpu.h"
#include "lib/io.h"
#include "lib/memrange.h"
#include "lib/printf.h"
#include "lib/serial.h"
#include "lib/start_info.h"
#include "tests/test.h"

void boot_main(uint64_t start_info_paddr, int entry) __attribute__((noreturn));

void boot_main(uint64_t start_info_paddr, int entry)
{
    bool pvh = entry == ENTRY_PVH;
    serial_init();
    memrange_reserve(image_start(), image_end() - image_start());
    bool ok = start_info_load(start_info_paddr, pvh);
    /* After the memmap is known: the PD pool is filled for RAM above 4 GiB. */
    paging_init(pvh);

    printf("jkvm-testguest entry=%s cmdline=\"%s\"\n", pvh ? "pvh" : "64bit", cmdline_text());
    if (!ok) {
        printf("TEST boot FAIL no hvm_start_info at 0x%lx\n", start_info_paddr);
        printf("RESULT 0 passed, 1 failed\n");
        outb(DEBUG_EXIT_PORT, 1);
        cpu_park();
    }

    unsigned passed = 0, failed = 0;
    run_tests(&passed, &failed);
    printf("RESULT %u passed, %u failed\n", passed, failed);
    outb(DEBUG_EXIT_PORT, failed ? 1 : 0);
    /* No debug-exit device: stay here without halting. */
    cpu_park();
}
