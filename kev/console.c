/*
 * console.c: the guest's console. See console.h.
 */
#include "console.h"
#include "mm.h"
#include "printk.h"
#include "vm.h"

void console_flush(struct vcpu *vcpu)
{
	if (vcpu->line_len == 0)
		return;
	vcpu->line[vcpu->line_len] = '\0';
	struct vm *vm = vcpu->vm;
	size_t room = sizeof(vm->console) - 1 - vm->console_len;
	size_t n = MIN(room, (size_t)vcpu->line_len);
	memcpy(vm->console + vm->console_len, vcpu->line, n);
	vm->console_len += n;
	if (vm->console_len < sizeof(vm->console) - 1)
		vm->console[vm->console_len++] = '\n';
	vm->console[vm->console_len] = '\0';
	if (vcpu->vm->nvcpus > 1)
		printk("guest%d| %s\n", vcpu->id, vcpu->line);
	else
		printk("guest| %s\n", vcpu->line);
	vcpu->line_len = 0;
}

void vcpu_console_putc(struct vcpu *vcpu, char c)
{
	if (c == '\n') {
		console_flush(vcpu);
		return;
	}
	if (c == '\r')
		return;
	if (vcpu->line_len == sizeof(vcpu->line) - 1)
		console_flush(vcpu);
	vcpu->line[vcpu->line_len++] = (c >= 0x20 && c < 0x7F) || c == '\t' ? c : '?';
}

void vcpu_console_write(struct vcpu *vcpu, const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++)
		vcpu_console_putc(vcpu, text[i]);
}
