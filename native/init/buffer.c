/*
 * Buffers hold exec requests, whose environment may carry the user's secrets,
 * and init's memory ends up in every snapshot: bytes are wiped as soon as
 * they are consumed, and a grown buffer never leaves a stale copy behind
 * (no realloc).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "init.h"

int buf_reserve(struct buf *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + extra)
		cap *= 2;
	unsigned char *p = malloc(cap);
	if (!p)
		return -1;
	if (b->data) {
		memcpy(p, b->data, b->len);
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void buf_consume(struct buf *b, size_t n)
{
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	explicit_bzero(b->data + b->len, n);
}

void buf_free(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

uint32_t get_u32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
