/* The one list of tests, in default run order. */
#include "tests/test.h"

const struct test test_registry[] = {
    {"serial", test_serial},
    {"memory", test_memory},
    {"smp", test_smp},
};

const size_t test_registry_count = sizeof(test_registry) / sizeof(test_registry[0]);
