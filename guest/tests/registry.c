/* The one list of tests, in default run order. */
#include "tests/test.h"

const struct test test_registry[] = {
    {.name = "serial", .fn = test_serial},
    {.name = "memory", .fn = test_memory},
    {.name = "smp", .fn = test_smp},
    /* Tools that inspect a running VM (the RSS benchmark) hold the guest here until they type a byte. */
    {.name = "wait", .fn = test_wait, .on_request = true},
};

const size_t test_registry_count = sizeof(test_registry) / sizeof(test_registry[0]);
