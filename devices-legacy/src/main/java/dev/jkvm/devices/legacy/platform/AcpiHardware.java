package dev.jkvm.devices.legacy.platform;

/**
 * The fixed ACPI hardware of jkvm's PC, in one place: what the FADT (and the DSDT's sleep
 * packages) must describe, and where {@link Piix4PowerManagement} and the reset ports answer.
 * The values are QEMU's "pc" machine as SeaBIOS leaves it, so a guest sees the same on both.
 *
 * <pre>
 *   PM1a_EVT_BLK  0x600  length 4   PM1_STS (+0, write 1 to clear) and PM1_EN (+2)
 *   PM1a_CNT_BLK  0x604  length 2   SCI_EN bit 0, SLP_TYP bits 10-12, SLP_EN bit 13
 *   PM_TMR_BLK    0x608  length 4   24-bit counter at 3.579545 MHz (FADT flag TMR_VAL_EXT = 0)
 *   GPE0_BLK      0xAFE0 length 4   GPE0_STS (+0, 2 bytes, write 1 to clear), GPE0_EN (+2, 2 bytes)
 *   SMI_CMD       0xB2             ACPI_ENABLE 0xF1, ACPI_DISABLE 0xF0
 *   SCI_INT       9                (level, active high as the FADT/MADT override describes it)
 *   RESET_REG     I/O 0xCF9, 8 bits, RESET_VALUE 0x06
 *   \_S5          SLP_TYP 0 (soft off); \_S4 SLP_TYP 2 (treated as off); S3 is not supported
 * </pre>
 * The PM block itself sits wherever the guest programs the PIIX4's PMBA register (config 0x40);
 * jkvm, being the firmware, puts it at {@link #PM_BASE} and enables it before the guest runs.
 */
public final class AcpiHardware {
    /** Where jkvm (like SeaBIOS) places the PIIX4 PM I/O block. */
    public static final int PM_BASE = 0x600;
    /** The PM block's size: PMBA decodes 64 bytes. */
    public static final int PM_BLOCK_LENGTH = 64;

    public static final int PM1A_EVT_BLK = PM_BASE;
    public static final int PM1_EVT_LEN = 4;
    public static final int PM1A_CNT_BLK = PM_BASE + 4;
    public static final int PM1_CNT_LEN = 2;
    public static final int PM_TMR_BLK = PM_BASE + 8;
    public static final int PM_TMR_LEN = 4;
    /** The PM timer's rate in Hz. */
    public static final long PM_TIMER_HZ = 3_579_545;

    public static final int GPE0_BLK = 0xafe0;
    public static final int GPE0_BLK_LEN = 4;

    public static final int SMI_CMD = 0xb2;
    public static final int ACPI_ENABLE = 0xf1;
    public static final int ACPI_DISABLE = 0xf0;

    public static final int SCI_IRQ = 9;

    public static final int RESET_REG = 0xcf9;
    public static final int RESET_VALUE = 0x06;

    /** SLP_TYP values in PM1_CNT, as the DSDT's \_S5 and \_S4 packages must give them. */
    public static final int SLP_TYP_S5 = 0;
    public static final int SLP_TYP_S3 = 1;
    public static final int SLP_TYP_S4 = 2;

    private AcpiHardware() {
    }
}
