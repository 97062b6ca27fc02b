#include "lib/platform.h"
#include "lib/cpu.h"
#include "lib/io.h"
#include "lib/pci.h"
#include "lib/tsc.h"

uint8_t cmos_read(uint8_t index)
{
    outb(CMOS_INDEX, index & 0x7f);
    return inb(CMOS_DATA);
}

void cmos_write(uint8_t index, uint8_t value)
{
    outb(CMOS_INDEX, index & 0x7f);
    outb(CMOS_DATA, value);
}

bool kbc_wait_write(unsigned ms)
{
    uint64_t deadline = rdtsc() + ms * TSC_MAX_PER_MS;
    while (inb(KBC_STATUS) & KBC_STS_IBF) {
        if (tsc_passed(deadline))
            return false;
        cpu_pause();
    }
    return true;
}

bool kbc_command(uint8_t cmd)
{
    if (!kbc_wait_write(100))
        return false;
    outb(KBC_CMD, cmd);
    return true;
}

bool kbc_write_data(uint8_t value)
{
    if (!kbc_wait_write(100))
        return false;
    outb(KBC_DATA, value);
    return true;
}

int kbc_read(unsigned ms, uint8_t *status)
{
    uint64_t deadline = rdtsc() + ms * TSC_MAX_PER_MS;
    for (;;) {
        uint8_t s = inb(KBC_STATUS);
        if (s & KBC_STS_OBF) {
            if (status)
                *status = s;
            return inb(KBC_DATA);
        }
        if (tsc_passed(deadline))
            return -1;
        cpu_pause();
    }
}

unsigned kbc_flush(void)
{
    unsigned n = 0;
    while ((inb(KBC_STATUS) & KBC_STS_OBF) && n < 64) {
        (void)inb(KBC_DATA);
        n++;
    }
    return n;
}

uint16_t pm_base(void)
{
    if (pci_cfg_read16(0, PIIX4_PM_DEV, PIIX4_PM_FN, PCI_VENDOR_ID) != 0x8086 ||
        pci_cfg_read16(0, PIIX4_PM_DEV, PIIX4_PM_FN, PCI_DEVICE_ID) != 0x7113)
        return 0;
    if (!(pci_cfg_read8(0, PIIX4_PM_DEV, PIIX4_PM_FN, PIIX4_PMREGMISC) & 1))
        return 0;
    return (uint16_t)(pci_cfg_read32(0, PIIX4_PM_DEV, PIIX4_PM_FN, PIIX4_PMBA) & 0xffc0);
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's algorithm, integer only. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}
