/* The one list of tests, in default run order. */
#include "tests/test.h"

const struct test test_registry[] = {
    {.name = "serial", .fn = test_serial},
    {.name = "memory", .fn = test_memory},
    {.name = "smp", .fn = test_smp},
    {.name = "pci", .fn = test_pci},
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
};

const size_t test_registry_count = sizeof(test_registry) / sizeof(test_registry[0]);
