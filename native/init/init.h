/*
 * What the parts of bothub-init share: the session table, the byte buffers,
 * and the functions each part offers the others.
 *
 *   buffer.c   byte buffers that wipe what they held, big-endian integers
 *   frame.c    frames out to the client, frames in from it, the 'R' request
 *   spawn.c    forking commands (exec requests and the main command), detached exits
 *   session.c  one client connection: its frames, its command's stdio, its end
 *   main.c     arguments, signals, reaping and the poll() loop
 */
#ifndef BOTHUB_INIT_H
#define BOTHUB_INIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol.h"

#define MAX_SESSIONS 512
#define MAX_DETACHED 1024
#define READ_CHUNK 65536
/* Stop reading a child's output while this much waits for a slow client. */
#define HIGH_WATER (4 * 1024 * 1024)

struct buf {
	unsigned char *data;
	size_t len, cap;
};

struct session {
	int used;
	int conn;
	pid_t pid;
	int tty;
	int in_fd;  /* child's stdin (pty master in tty mode) */
	int out_fd; /* child's stdout (pty master in tty mode) */
	int err_fd; /* child's stderr; -1 in tty mode */
	int exited;
	int status;
	int stdin_eof;  /* close in_fd once ibuf drains */
	int closing;    /* half-close conn once wbuf drains */
	int shut;       /* our side is shut: wait for the client to hang up */
	struct buf rbuf; /* frames from the client */
	struct buf wbuf; /* frames to the client */
	struct buf ibuf; /* bytes for the child's stdin */
};

/* An exec request ('R'), its fields pointing into the frame's payload. */
struct request {
	const char *cwd;
	int tty;
	unsigned short rows, cols;
	const char *log_path;
	const char *exit_path;
	char **argv;
	char **envp;
};

/* main.c */
extern int console_fd;
void logf_console(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* buffer.c */
int buf_reserve(struct buf *b, size_t extra);
void buf_consume(struct buf *b, size_t n);
void buf_free(struct buf *b);
void put_u32(unsigned char *p, uint32_t v);
uint32_t get_u32(const unsigned char *p);

/* frame.c */
void send_frame(struct session *s, char type, const void *payload, size_t len);
void send_exit(struct session *s, int code, int sig);
void send_error(struct session *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int parse_request(unsigned char *payload, size_t len, struct request *r, char ***storage);
int read_client(struct session *s);

/* spawn.c */
extern pid_t main_pid;
extern const char *main_cwd;
extern long main_uid, main_gid;
void start_command(struct session *s, struct request *r);
int start_main(char **argv);
void record_detached_exit(pid_t pid, int status);

/* session.c */
extern struct session sessions[MAX_SESSIONS];
void close_fd(int *fd);
void session_free(struct session *s);
void handle_frame(struct session *s, unsigned char type, unsigned char *payload, size_t len);
void pump_output(struct session *s, int *fd, char type);
void flush_stdin(struct session *s);
int flush_client(struct session *s);
void drop_client(struct session *s);
void accept_clients(int listen_fd);
void session_exited(pid_t pid, int status);
void progress_session(struct session *s);

#endif
