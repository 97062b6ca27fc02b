/* The PC platform devices around the chipset: CMOS RTC (0x70/0x71), the 8042 keyboard
 * controller (0x60/0x64), the PIIX4 ACPI power-management block (PMBA from 00:01.3), PIT
 * channel 2 with its gate and output in port 0x61. Polling only: nothing here enables an
 * interrupt, and every wait has a TSC deadline (see lib/tsc.h for what "ms" means there). */
#ifndef LIB_PLATFORM_H
#define LIB_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>

/* ---- CMOS / RTC ---- */
#define CMOS_INDEX 0x70
#define CMOS_DATA  0x71
#define RTC_SECONDS 0x00
#define RTC_MINUTES 0x02
#define RTC_HOURS   0x04
#define RTC_DOW     0x06
#define RTC_DAY     0x07
#define RTC_MONTH   0x08
#define RTC_YEAR    0x09
#define RTC_REG_A   0x0a
#define RTC_REG_B   0x0b
#define RTC_REG_C   0x0c
#define RTC_REG_D   0x0d
#define RTC_CENTURY 0x32
#define RTC_A_UIP    0x80
#define RTC_B_SET    0x80
#define RTC_B_BINARY 0x04
#define RTC_B_24H    0x02

/* Reads/writes a CMOS byte; NMI stays enabled (index bit 7 clear). */
uint8_t cmos_read(uint8_t index);
void cmos_write(uint8_t index, uint8_t value);

/* ---- 8042 ---- */
#define KBC_DATA    0x60
#define KBC_STATUS  0x64
#define KBC_CMD     0x64
#define KBC_STS_OBF     0x01
#define KBC_STS_IBF     0x02
#define KBC_STS_SYS     0x04
#define KBC_STS_AUX_OBF 0x20

/* Waits (at most ~ms) until the controller takes input; false on timeout. */
bool kbc_wait_write(unsigned ms);
bool kbc_command(uint8_t cmd);
bool kbc_write_data(uint8_t value);
/* Next output byte within ~ms, or -1; *status (optional) gets the status seen with it. */
int kbc_read(unsigned ms, uint8_t *status);
/* Reads and drops whatever is in the output buffer; returns how many bytes. */
unsigned kbc_flush(void);

/* ---- PIIX4 power management ---- */
#define PIIX4_PM_DEV 1
#define PIIX4_PM_FN  3
#define PIIX4_PMBA      0x40
#define PIIX4_PMREGMISC 0x80
#define PM1_STS 0x00
#define PM1_EN  0x02
#define PM1_CNT 0x04
#define PM_TMR  0x08
#define PM1_CNT_SCI_EN   0x0001
#define PM1_CNT_SLP_TYP  0x1c00
#define PM1_CNT_SLP_EN   0x2000

/* The PM I/O base from 00:01.3 (8086:7113) if the function exists and its PM space is
 * enabled (PMREGMISC bit 0); 0 otherwise. */
uint16_t pm_base(void);

/* ---- PIT channel 2 and port 0x61 ---- */
#define PIT_CH2   0x42
#define PIT_MODE  0x43
#define PORT_61   0x61
#define P61_GATE2 0x01
#define P61_SPKR  0x02
#define P61_OUT2  0x20

/* days since 1970-01-01 of a proleptic Gregorian date (no validation). */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
