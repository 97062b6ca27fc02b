#include "lib/serial.h"
#include "lib/io.h"

void serial_init(void)
{
    outb(COM1 + UART_IER, 0);
    outb(COM1 + UART_LCR, LCR_DLAB);
    outb(COM1 + UART_DLL, UART_DIVISOR_115200 & 0xff);
    outb(COM1 + UART_DLM, UART_DIVISOR_115200 >> 8);
    outb(COM1 + UART_LCR, LCR_8N1);
    outb(COM1 + UART_FCR, FCR_ENABLE_CLEAR);
    outb(COM1 + UART_MCR, MCR_DTR | MCR_RTS);
}

void serial_putc(char c)
{
    /* Bounded: a missing or broken UART must not hang the guest (each poll is a VM exit). */
    for (int i = 0; i < 100000; i++)
        if (inb(COM1 + UART_LSR) & LSR_THRE)
            break;
    outb(COM1 + UART_THR, (uint8_t)c);
}

void serial_write(const char *s)
{
    while (*s)
        serial_putc(*s++);
}
