/* PCI interrupt routing as firmware leaves it: the PIIX3 PIRQ route registers (00:01.0,
 * config 0x60-0x63) hold IRQ 10, 10, 11, 11, and every function outside slot 1 that has an
 * interrupt pin has the interrupt line the PIIX swizzle gives: PIRQ (slot - 1 + pin - 1) & 3.
 * The PIIX4 power-management function (00:01.3), whose interrupt is the ACPI SCI, has
 * line 9 and pin INTA, as SeaBIOS and QEMU leave it. */
#include "tests/test.h"
#include "lib/pci.h"
#include "lib/platform.h"

bool test_piixirq(struct test_result *r)
{
    static const uint8_t want[4] = {10, 10, 11, 11};
    uint8_t route[4];
    for (int i = 0; i < 4; i++)
        route[i] = pci_cfg_read8(0, 1, 0, 0x60 + i);
    detail(r, "pirq=%u,%u,%u,%u", route[0], route[1], route[2], route[3]);
    for (int i = 0; i < 4; i++)
        if (route[i] != want[i])
            return fail(r, " PIRQ%c routes to 0x%02x, want %u", 'A' + i, route[i], want[i]);

    unsigned checked = 0;
    for (uint8_t dev = 2; dev < 32; dev++) {
        if (pci_cfg_read16(0, dev, 0, PCI_VENDOR_ID) == 0xffff)
            continue;
        uint8_t nfn = (pci_cfg_read8(0, dev, 0, PCI_HEADER_TYPE) & PCI_HEADER_MULTIFN) ? 8 : 1;
        for (uint8_t fn = 0; fn < nfn; fn++) {
            if (pci_cfg_read16(0, dev, fn, PCI_VENDOR_ID) == 0xffff)
                continue;
            uint8_t pin = pci_cfg_read8(0, dev, fn, 0x3d), line = pci_cfg_read8(0, dev, fn, 0x3c);
            if (pin < 1 || pin > 4)
                continue;
            uint8_t irq = route[(dev - 1 + pin - 1) & 3] & 0x0f;
            if (line != irq)
                return fail(r, " 00:%02x.%x INT%c has line %u, the swizzle gives %u", dev, fn, 'A' + pin - 1, line, irq);
            checked++;
        }
    }
    detail(r, " checked=%u", checked);

    if (pci_cfg_read16(0, PIIX4_PM_DEV, PIIX4_PM_FN, PCI_VENDOR_ID) == 0x8086) {
        uint8_t line = pci_cfg_read8(0, PIIX4_PM_DEV, PIIX4_PM_FN, 0x3c);
        uint8_t pin = pci_cfg_read8(0, PIIX4_PM_DEV, PIIX4_PM_FN, 0x3d);
        detail(r, " acpi=line%u/pin%u", line, pin);
        if (line != 9 || pin != 1)
            return fail(r, " (want line 9, pin 1)");
    }
    return true;
}
