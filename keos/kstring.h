/*
 * kstring.h: memory and string functions (string.c), the C library's names.
 * Named kstring.h so that it never hides a host build's <string.h>.
 */
#pragma once
#include "types.h"

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strncpy(char *d, const char *s, size_t n);
char *strstr(const char *hay, const char *needle);
