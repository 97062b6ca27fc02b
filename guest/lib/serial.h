/* Polled 16550A UART on COM1. No interrupts are ever enabled (IER = 0, OUT2 = 0). */
#ifndef LIB_SERIAL_H
#define LIB_SERIAL_H

#include <stdint.h>

#define COM1 0x3f8

/* Register offsets from the base port. DLL/DLM are visible while LCR.DLAB = 1. */
#define UART_RBR 0      /* read: receive buffer */
#define UART_THR 0      /* write: transmit holding */
#define UART_DLL 0
#define UART_IER 1
#define UART_DLM 1
#define UART_IIR 2      /* read */
#define UART_FCR 2      /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define LCR_8N1   0x03
#define LCR_DLAB  0x80
#define FCR_ENABLE_CLEAR 0x07   /* enable FIFOs, clear RX and TX FIFO */
#define MCR_DTR   0x01
#define MCR_RTS   0x02
#define MCR_OUT1  0x04
#define MCR_OUT2  0x08
#define MCR_LOOP  0x10
#define LSR_DR    0x01
#define LSR_THRE  0x20

#define UART_DIVISOR_115200 1   /* 1.8432 MHz / 16 / 115200 */

void serial_init(void);
void serial_putc(char c);
void serial_write(const char *s);

#endif
