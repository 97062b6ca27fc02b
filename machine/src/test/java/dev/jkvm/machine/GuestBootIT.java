package dev.jkvm.machine;

import dev.jkvm.vmm.ExitStatus;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Boots the test guest on jkvm and checks its result lines and exit status. */
class GuestBootIT {
    private static final Pattern RESULT = Pattern.compile("RESULT (\\d+) passed, (\\d+) failed");
    private static final Duration TIMEOUT = Duration.ofSeconds(90);

    private static String boot(VirtualMachine.Builder builder, int expectedPasses) throws Exception {
        try (VirtualMachine vm = builder.build().start()) {
            Matcher m = vm.serial().waitFor(RESULT, TIMEOUT);
            ExitStatus status = vm.awaitExit(TIMEOUT);
            String out = vm.serialOutput();
            assertEquals(expectedPasses + " passed, 0 failed", m.group(1) + " passed, " + m.group(2) + " failed", out);
            assertEquals(ExitStatus.Reason.DEBUG_EXIT, status.reason(), out);
            assertEquals(0, status.debugValue(), out);
            assertEquals(TestGuest.ALL_PASSED_STATUS, status.code());
            return out;
        }
    }

    @Test
    void oneVcpu64MiB() throws Exception {
        String out = boot(TestGuest.vm("64M", 1, ""), 9);
        assertTrue(out.contains("entry=64bit"), out);
        assertTrue(out.contains("TEST serial PASS"), out);
        assertTrue(out.contains("TEST smp PASS cpus=1"), out);
        assertTrue(out.contains("PCI 00:00.0 0600: 8086:1237") && out.contains("PCI 00:01.0 0601: 8086:7000"), out);
    }

    @Test
    void twoVcpusWakeThroughInitSipi() throws Exception {
        String out = boot(TestGuest.vm("64M", 2, "tests=smp cpus=2"), 1);
        assertTrue(out.contains("TEST smp PASS cpus=2 ids=0,1"), out);
    }

    @Test
    void fourGiBPutsRamAboveFourGiBAndTheGuestTouchesIt() throws Exception {
        String out = boot(TestGuest.vm("4G", 2, "tests=memory,smp cpus=2"), 2);
        Matcher m = Pattern.compile("TEST memory PASS ram=(\\d+) regions=(\\d+) touched=(\\d+) high=(\\d+)").matcher(out);
        assertTrue(m.find(), out);
        assertEquals(1024, Integer.parseInt(m.group(4)), "every MiB above 4 GiB was touched");
        assertTrue(Integer.parseInt(m.group(3)) >= 4090, out);
    }

    @Test
    void thePvhEntryWorksLikeQemus() throws Exception {
        String out = boot(TestGuest.vm("64M", 1, "tests=serial,memory").bootEntry(BootEntry.PVH), 2);
        assertTrue(out.contains("entry=pvh"), out);
    }

    @Test
    void aFailingTestGivesDebugExitValueOne() throws Exception {
        try (VirtualMachine vm = TestGuest.vm("32M", 1, "tests=serial,nosuchtest").build().start()) {
            ExitStatus status = vm.awaitExit(TIMEOUT);
            assertTrue(vm.serialOutput().contains("RESULT 1 passed, 1 failed"), vm.serialOutput());
            assertEquals(1, status.debugValue());
            assertEquals(3, status.code());
        }
    }
}
