/* The one list of tests, in default run order. */
#include "tests/test.h"

const struct test test_registry[] = {
    {.name = "serial", .fn = test_serial},
    {.name = "memory", .fn = test_memory},
    {.name = "smp", .fn = test_smp},
    {.name = "pci", .fn = test_pci},
    /* ACPI tables (RSDP scan, checksums, MADT CPUs); acpi.optional=1 accepts none (-machine acpi=off). */
    {.name = "acpi", .fn = test_acpi},
    /* PC platform devices: CMOS RTC, ACPI PM timer against the PIT, 8042, PIIX PCI interrupt routing. */
    {.name = "rtc", .fn = test_rtc},
    {.name = "pmtimer", .fn = test_pmtimer},
    {.name = "i8042", .fn = test_i8042},
    {.name = "piixirq", .fn = test_piixirq},
    /* Tools that inspect a running VM (the RSS benchmark) hold the guest here until they type a byte. */
    {.name = "wait", .fn = test_wait, .on_request = true},
    /* virtio-blk: need a writable (and for blk-ro a read-only) disk holding the host pattern. */
    {.name = "blk-id", .fn = test_blk_id, .on_request = true},
    {.name = "blk-read", .fn = test_blk_read, .on_request = true},
    {.name = "blk-write", .fn = test_blk_write, .on_request = true},
    {.name = "blk-flush", .fn = test_blk_flush, .on_request = true},
    {.name = "blk-discard", .fn = test_blk_discard, .on_request = true},
    {.name = "blk-ro", .fn = test_blk_ro, .on_request = true},
    {.name = "blk-msix", .fn = test_blk_msix, .on_request = true},
    {.name = "blk-bad", .fn = test_blk_bad, .on_request = true},
    /* IDE (PIIX3): a pattern disk at the primary master (ide-*), an ISO 9660 CD-ROM for atapi. */
    {.name = "ide-id", .fn = test_ide_id, .on_request = true},
    {.name = "ide-pio", .fn = test_ide_pio, .on_request = true},
    {.name = "ide-dma", .fn = test_ide_dma, .on_request = true},
    {.name = "atapi", .fn = test_atapi, .on_request = true},
    /* Load generator for benchmarks/run-blk.sh (bench.* parameters); write modes overwrite the disk. */
    {.name = "blk-bench", .fn = test_blk_bench, .on_request = true},
    /* NICs (net.nic=virtio|e1000, default the first found) on a slirp-like network: 10.0.2.15, gateway 10.0.2.2. */
    {.name = "net-id", .fn = test_net_id, .on_request = true},
    {.name = "net-arp", .fn = test_net_arp, .on_request = true},
    {.name = "net-dhcp", .fn = test_net_dhcp, .on_request = true},
    {.name = "net-udp-echo", .fn = test_net_udp_echo, .on_request = true},
    {.name = "net-irq", .fn = test_net_irq, .on_request = true},
    {.name = "net-peer", .fn = test_net_peer, .on_request = true},
    {.name = "net-bad", .fn = test_net_bad, .on_request = true},
    /* Load generator for benchmarks/run-net.sh (bench.* parameters): stops on a byte from the host. */
    {.name = "net-bench", .fn = test_net_bench, .on_request = true},
    /* End the VM: ACPI S5 soft-off, or a reset by reset.method=i8042|cf9|92 (run with -no-reboot). */
    {.name = "s5", .fn = test_s5, .on_request = true},
    {.name = "reset", .fn = test_reset, .on_request = true},
};

const size_t test_registry_count = sizeof(test_registry) / sizeof(test_registry[0]);

const struct test_group test_groups[] = {
    /* One NIC on -nic user,hostfwd=udp::PORT-:7: identity, ARP and DHCP with slirp, the
     * interrupt, then echo net.echo datagrams the host sends to PORT. */
    {.name = "net", .members = "net-id,net-arp,net-dhcp,net-irq,net-udp-echo"},
    {.name = "ide", .members = "ide-id,ide-pio,ide-dma"},
};

const size_t test_group_count = sizeof(test_groups) / sizeof(test_groups[0]);
