/* Frames (see protocol.h): queued for the client, and split out of what it sent. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "init.h"

void send_frame(struct session *s, char type, const void *payload, size_t len)
{
	if (s->conn < 0 || buf_reserve(&s->wbuf, FRAME_HEADER + len) < 0)
		return;
	unsigned char *p = s->wbuf.data + s->wbuf.len;
	p[0] = (unsigned char)type;
	put_u32(p + 1, (uint32_t)len);
	if (len)
		memcpy(p + FRAME_HEADER, payload, len);
	s->wbuf.len += FRAME_HEADER + len;
}

void send_exit(struct session *s, int code, int sig)
{
	unsigned char p[8];
	put_u32(p, (uint32_t)code);
	put_u32(p + 4, (uint32_t)sig);
	send_frame(s, T_EXIT, p, sizeof p);
	s->closing = 1;
}

void send_error(struct session *s, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	send_frame(s, T_ERROR, msg, strlen(msg));
	send_exit(s, code, 0);
}

/* Splits the 'R' payload into fields; returns 0 or -1 on a malformed request. */
int parse_request(unsigned char *payload, size_t len, struct request *r, char ***storage)
{
	size_t nfields = 0;
	for (size_t i = 0; i < len; i++)
		if (payload[i] == 0)
			nfields++;
	if (len == 0 || payload[len - 1] != 0 || nfields < 9)
		return -1;
	char **f = calloc(nfields + 2, sizeof *f);
	if (!f)
		return -1;
	size_t k = 0;
	for (size_t i = 0; i < len; i += strlen((char *)payload + i) + 1)
		f[k++] = (char *)payload + i;
	if (strcmp(f[0], PROTOCOL_VERSION) != 0) {
		free(f);
		return -1;
	}
	r->cwd = f[1];
	r->tty = f[2][0] == '1';
	r->rows = (unsigned short)atoi(f[3]);
	r->cols = (unsigned short)atoi(f[4]);
	r->log_path = f[5];
	r->exit_path = f[6];
	size_t argc = strtoul(f[7], NULL, 10);
	if (argc == 0 || 8 + argc >= nfields) {
		free(f);
		return -1;
	}
	size_t envc = strtoul(f[8 + argc], NULL, 10);
	if (9 + argc + envc != nfields) {
		free(f);
		return -1;
	}
	/* argv and envp must each end in NULL: build them in a fresh array. */
	char **vec = calloc(argc + envc + 2, sizeof *vec);
	if (!vec) {
		free(f);
		return -1;
	}
	memcpy(vec, f + 8, argc * sizeof *vec);
	memcpy(vec + argc + 1, f + 9 + argc, envc * sizeof *vec);
	r->argv = vec;
	r->envp = vec + argc + 1;
	free(f);
	*storage = vec;
	return 0;
}

/* Reads what the client sent and handles each whole frame; returns -1 when the connection is gone. */
int read_client(struct session *s)
{
	if (buf_reserve(&s->rbuf, READ_CHUNK) < 0)
		return -1;
	ssize_t n = read(s->conn, s->rbuf.data + s->rbuf.len, READ_CHUNK);
	if (n == 0)
		return -1;
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	s->rbuf.len += n;
	while (s->rbuf.len >= FRAME_HEADER) {
		uint32_t len = get_u32(s->rbuf.data + 1);
		if (len > FRAME_MAX)
			return -1;
		if (s->rbuf.len < FRAME_HEADER + len)
			break;
		handle_frame(s, s->rbuf.data[0], s->rbuf.data + FRAME_HEADER, len);
		buf_consume(&s->rbuf, FRAME_HEADER + len);
	}
	return 0;
}
