package dev.jkvm.vmm;

import dev.jkvm.kvm.KvmConstants;

import java.util.Arrays;

/**
 * The exits that end a vCPU's normal run: each becomes an {@link ExitStatus} with a message a
 * person can act on. I/O and MMIO exits never take this form; the exit loop handles them in place.
 */
public sealed interface VcpuExit {
    String describe();

    /** Triple fault or an unrecoverable event: the PC resets. */
    record Shutdown() implements VcpuExit {
        public String describe() {
            return "guest triple fault (KVM_EXIT_SHUTDOWN)";
        }
    }

    record SystemEvent(int type, long[] data) implements VcpuExit {
        public String describe() {
            String kind = switch (type) {
                case KvmConstants.KVM_SYSTEM_EVENT_SHUTDOWN -> "shutdown";
                case KvmConstants.KVM_SYSTEM_EVENT_RESET -> "reset";
                case KvmConstants.KVM_SYSTEM_EVENT_CRASH -> "crash";
                default -> "type " + type;
            };
            return "KVM system event: " + kind + (data.length > 0 ? " data=" + Arrays.toString(data) : "");
        }
    }

    record FailEntry(long hardwareReason, int cpu) implements VcpuExit {
        public String describe() {
            return String.format("KVM_EXIT_FAIL_ENTRY: the CPU refused to enter the guest (hardware reason 0x%x, host cpu %d)",
                    hardwareReason, cpu);
        }
    }

    record InternalError(int suberror, long[] data) implements VcpuExit {
        public String describe() {
            String kind = switch (suberror) {
                case KvmConstants.KVM_INTERNAL_ERROR_EMULATION -> "instruction emulation failed";
                case KvmConstants.KVM_INTERNAL_ERROR_SIMUL_EX -> "exception while delivering an exception";
                case KvmConstants.KVM_INTERNAL_ERROR_DELIVERY_EV -> "event delivery failed";
                default -> "suberror " + suberror;
            };
            StringBuilder b = new StringBuilder("KVM_EXIT_INTERNAL_ERROR: ").append(kind);
            if (data.length > 0) {
                b.append(" data=");
                for (int i = 0; i < data.length; i++) {
                    b.append(i == 0 ? "" : ",").append(String.format("0x%x", data[i]));
                }
            }
            return b.toString();
        }
    }

    record Unexpected(int reason) implements VcpuExit {
        public String describe() {
            return "unexpected exit " + KvmConstants.exitReasonName(reason) + " (" + reason + ")";
        }
    }
}
