/* One client connection: the frames it sends, its command's stdio, and how it ends. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "init.h"

struct session sessions[MAX_SESSIONS];

void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void session_free(struct session *s)
{
	close_fd(&s->conn);
	/* In tty mode in_fd and out_fd are the same master descriptor. */
	if (s->in_fd == s->out_fd)
		s->in_fd = -1;
	close_fd(&s->in_fd);
	close_fd(&s->out_fd);
	close_fd(&s->err_fd);
	buf_free(&s->rbuf);
	buf_free(&s->wbuf);
	buf_free(&s->ibuf);
	memset(s, 0, sizeof *s);
	s->conn = s->in_fd = s->out_fd = s->err_fd = -1;
}

void handle_frame(struct session *s, unsigned char type, unsigned char *payload, size_t len)
{
	switch (type) {
	case T_REQUEST: {
		if (s->pid || s->closing) {
			send_error(s, 126, "one request per connection");
			return;
		}
		struct request r;
		char **storage = NULL;
		if (parse_request(payload, len, &r, &storage) < 0) {
			send_error(s, 126, "malformed exec request");
			return;
		}
		start_command(s, &r);
		free(storage);
		return;
	}
	case T_STDIN:
		if (s->in_fd >= 0 && !s->stdin_eof && buf_reserve(&s->ibuf, len) == 0) {
			memcpy(s->ibuf.data + s->ibuf.len, payload, len);
			s->ibuf.len += len;
		}
		return;
	case T_STDIN_EOF:
		if (!s->tty)
			s->stdin_eof = 1;
		return;
	case T_RESIZE:
		if (s->tty && s->out_fd >= 0 && len >= 4) {
			struct winsize ws = {.ws_row = (payload[0] << 8) | payload[1],
					     .ws_col = (payload[2] << 8) | payload[3]};
			ioctl(s->out_fd, TIOCSWINSZ, &ws);
		}
		return;
	case T_SIGNAL:
		/* The group may outlive its leader (background children holding the
		 * output open); a pgid is not reused while the group has members. */
		if (s->pid > 0 && len >= 4) {
			int sig = (int)get_u32(payload);
			if (kill(-s->pid, sig) < 0 && !s->exited)
				kill(s->pid, sig);
		}
		return;
	default:
		send_error(s, 126, "unknown frame type %d", type);
	}
}

void pump_output(struct session *s, int *fd, char type)
{
	unsigned char chunk[READ_CHUNK];
	ssize_t n = read(*fd, chunk, sizeof chunk);
	if (n > 0) {
		send_frame(s, type, chunk, n);
		/* Output can be as secret as input (a command printing a key). */
		explicit_bzero(chunk, n);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		/* EOF, or EIO from a pty master whose last slave closed */
		if (s->in_fd == *fd)
			s->in_fd = -1;
		close_fd(fd);
	}
}

void flush_stdin(struct session *s)
{
	ssize_t n = write(s->in_fd, s->ibuf.data, s->ibuf.len);
	if (n > 0)
		buf_consume(&s->ibuf, n);
	else if (n < 0 && errno != EAGAIN && errno != EINTR) {
		s->ibuf.len = 0;
		close_fd(&s->in_fd);
	}
}

int flush_client(struct session *s)
{
	ssize_t n = write(s->conn, s->wbuf.data, s->wbuf.len);
	if (n > 0)
		buf_consume(&s->wbuf, n);
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		return -1;
	return 0;
}

/* The client went away: the command is hung up on, like a closed terminal. */
void drop_client(struct session *s)
{
	if (s->pid > 0 && !s->exited) {
		kill(-s->pid, SIGHUP);
		kill(-s->pid, SIGCONT);
	}
	session_free(s);
}

void accept_clients(int listen_fd)
{
	for (;;) {
		int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (c < 0)
			return;
		struct session *s = NULL;
		for (int i = 0; i < MAX_SESSIONS && !s; i++)
			if (!sessions[i].used)
				s = &sessions[i];
		if (!s) {
			close(c);
			continue;
		}
		session_free(s);
		s->used = 1;
		s->conn = c;
	}
}

/* A reaped child: the session whose command it was reports the exit once its output is drained. */
void session_exited(pid_t pid, int status)
{
	for (int i = 0; i < MAX_SESSIONS; i++) {
		if (sessions[i].used && sessions[i].pid == pid) {
			sessions[i].exited = 1;
			sessions[i].status = status;
		}
	}
}

/* After each poll round: stdin in tty mode, EOF on stdin, the exit report, the half-close. */
void progress_session(struct session *s)
{
	if (s->tty && s->in_fd >= 0 && s->ibuf.len)
		flush_stdin(s);
	if (s->stdin_eof && !s->ibuf.len && s->in_fd >= 0 && s->in_fd != s->out_fd)
		close_fd(&s->in_fd);
	if (s->exited && s->out_fd < 0 && s->err_fd < 0 && !s->closing) {
		if (WIFEXITED(s->status))
			send_exit(s, WEXITSTATUS(s->status), 0);
		else
			send_exit(s, -1, WTERMSIG(s->status));
	}
	if (s->closing && s->wbuf.len)
		flush_client(s);
	/* Half-close: the client may still be writing (stdin EOF after a
	 * fast exit); a full close would make its write fail with EPIPE. */
	if (s->closing && !s->wbuf.len && !s->shut) {
		shutdown(s->conn, SHUT_WR);
		s->shut = 1;
	}
}
