/*
 * What the parts of bothub-spawner share.
 *
 *   buffer.c  byte queues with a read offset
 *   spawn.c   one command: its pipes, posix_spawn with a PATH search, its fds
 *   main.c    frames in and out, the job table, reaping and the poll() loop
 */
#ifndef BOTHUB_SPAWNER_H
#define BOTHUB_SPAWNER_H

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "protocol.h"

#define READ_CHUNK 65536
/* Stop reading the commands' output while this much waits for the daemon. */
#define HIGH_WATER (4 * 1024 * 1024)

/* Bytes queued at data[head..len); consumed from the front without moving the rest each time. */
struct buf {
	unsigned char *data;
	size_t head, len, cap;
};

struct job {
	uint32_t id;
	pid_t pid;
	int in_fd;  /* our end of the command's stdin; -1 once closed (or /dev/null) */
	int out_fd; /* our end of its stdout; -1 at EOF */
	int err_fd; /* our end of its stderr; -1 at EOF */
	int exited;
	int status;
	int stdin_eof; /* close in_fd once ibuf drains */
	struct buf ibuf;
};

/* A run request ('R'), its fields pointing into the frame's payload. */
struct run_request {
	const char *cwd;
	int stdin_pipe;
	char **argv;
	char **envp;
};

/* buffer.c */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
void buf_consume(struct buf *b, size_t n);
void buf_free(struct buf *b);

/* The protocol's big-endian integers, at any alignment. */
static inline void put_u32(unsigned char *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, sizeof v);
}

static inline uint32_t get_u32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof v);
	return ntohl(v);
}

/* spawn.c */
int parse_run(unsigned char *payload, size_t len, struct run_request *r);
int spawn_job(struct job *j, const struct run_request *r);

#endif
