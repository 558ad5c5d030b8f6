/* serial.h: COM1, the console every printk line goes to (serial.c). */
#pragma once
#include "types.h"

#define COM1 0x3F8 /* its I/O ports: COM1 + 0 data, ... COM1 + 5 line status */

void serial_init(void);
void serial_putc(char c);
void serial_write(const char *s, size_t n); /* "\n" becomes "\r\n" */
