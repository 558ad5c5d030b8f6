/*
 * vsnprintf.c: a small printf formatter, and printk on top of whatever
 * vprintk the kernel provides (the host's in printk.c, the guest's own).
 *
 * Supports %d %i %u %x %X %p %s %c %% with the l/ll/z length modifiers, a
 * field width, '-' (left-justify) and '0' (zero-pad). Nothing else: the kernel
 * never prints floating point.
 */
#include "mm.h"
#include "printk.h"

struct out {
	char *buf;
	size_t size;
	size_t pos; /* may run past size: we still count, like C's snprintf */
};

static void put(struct out *o, char c)
{
	if (o->pos + 1 < o->size)
		o->buf[o->pos] = c;
	o->pos++;
}

static void put_padded(struct out *o, const char *s, size_t len, int width, bool left, char pad)
{
	int fill = width > (int)len ? width - (int)len : 0;
	/* Zero padding goes after a leading '-' sign. */
	if (pad == '0' && len > 0 && s[0] == '-') {
		put(o, '-');
		s++;
		len--;
	}
	if (!left)
		while (fill-- > 0)
			put(o, pad);
	for (size_t i = 0; i < len; i++)
		put(o, s[i]);
	if (left)
		while (fill-- > 0)
			put(o, ' ');
}

static size_t format_number(char *tmp, uint64_t v, unsigned base, bool upper, bool negative)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char rev[24];
	size_t n = 0, len = 0;
	do {
		rev[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (negative)
		tmp[len++] = '-';
	while (n)
		tmp[len++] = rev[--n];
	return len;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = {buf, size, 0};

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		bool left = false;
		char pad = ' ';
		for (; *fmt == '-' || *fmt == '0'; fmt++) {
			if (*fmt == '-')
				left = true;
			else
				pad = '0';
		}
		int width = 0;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		int longs = 0;
		while (*fmt == 'l' || *fmt == 'z') {
			longs++;
			fmt++;
		}

		char tmp[24];
		size_t len;
		uint64_t u;
		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
			u = v < 0 ? -(uint64_t)v : (uint64_t)v;
			len = format_number(tmp, u, 10, false, v < 0);
			put_padded(&o, tmp, len, width, left, pad);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
			u = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			len = format_number(tmp, u, *fmt == 'u' ? 10 : 16, *fmt == 'X', false);
			put_padded(&o, tmp, len, width, left, pad);
			break;
		case 'p':
			u = (uint64_t)va_arg(ap, void *);
			put(&o, '0');
			put(&o, 'x');
			len = format_number(tmp, u, 16, false, false);
			put_padded(&o, tmp, len, width, left, pad);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			put_padded(&o, s, strlen(s), width, left, ' ');
			break;
		}
		case 'c':
			tmp[0] = (char)va_arg(ap, int);
			put_padded(&o, tmp, 1, width, left, ' ');
			break;
		case '%':
			put(&o, '%');
			break;
		case '\0':
			fmt--; /* a lone '%' at the end */
			break;
		default:
			put(&o, '%');
			put(&o, *fmt);
		}
	}
	if (size)
		buf[o.pos < size ? o.pos : size - 1] = '\0';
	return (int)o.pos;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int printk(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vprintk(fmt, ap);
	va_end(ap);
	return n;
}
