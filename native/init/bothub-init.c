/*
 * bothub-init: PID 1 of every bothub sandbox.
 *
 *   bothub-init --socket PATH --console PATH [-- CMD ARGS...]
 *
 * - Reaps orphans and keeps the sandbox alive while no user process runs.
 * - Runs the optional main command with its output appended to the console log.
 * - Serves exec requests on a unix socket (see protocol.h). Each request forks a
 *   child of this init, so every process of the sandbox stays inside one tree
 *   that CRIU can dump, and no runc process is paid for per command.
 * - On SIGTERM it passes SIGTERM to every process of the sandbox and exits when
 *   the last one is gone.
 *
 * Single-threaded: one poll() loop owns every descriptor.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"

#define MAX_SESSIONS 512
#define MAX_DETACHED 1024
#define READ_CHUNK 65536
/* Stop reading a child's output while this much waits for a slow client. */
#define HIGH_WATER (4 * 1024 * 1024)

extern char **environ;

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

struct detached {
	pid_t pid;
	char exit_path[4096];
};

static struct session sessions[MAX_SESSIONS];
static struct detached detached[MAX_DETACHED];
static int console_fd = -1;
static pid_t main_pid = 0;
static int terminating = 0;

static void logf_console(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n = snprintf(line, sizeof line, "[bothub-init] ");
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof line - 1)
		n = sizeof line - 2;
	line[n++] = '\n';
	if (console_fd >= 0 && write(console_fd, line, n) < 0) {
		/* nothing sensible to do: the console is our only voice */
	}
}

/*
 * Buffers hold exec requests, whose environment may carry the user's secrets,
 * and init's memory ends up in every snapshot: bytes are wiped as soon as
 * they are consumed, and a grown buffer never leaves a stale copy behind
 * (no realloc).
 */
static int buf_reserve(struct buf *b, size_t extra)
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

static void buf_consume(struct buf *b, size_t n)
{
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	explicit_bzero(b->data + b->len, n);
}

static void buf_free(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get_u32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void send_frame(struct session *s, char type, const void *payload, size_t len)
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

static void send_exit(struct session *s, int code, int sig)
{
	unsigned char p[8];
	put_u32(p, (uint32_t)code);
	put_u32(p + 4, (uint32_t)sig);
	send_frame(s, T_EXIT, p, sizeof p);
	s->closing = 1;
}

static void send_error(struct session *s, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	send_frame(s, T_ERROR, msg, strlen(msg));
	send_exit(s, code, 0);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void session_free(struct session *s)
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

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Runs in the forked child: restore what init changed, then become the command. */
static void child_reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
}

static void child_fail(int errpipe, const char *what)
{
	char msg[512];
	int err = errno;
	int n = snprintf(msg, sizeof msg, "%d %s: %s", err, what, strerror(err));
	if (write(errpipe, msg, n) < 0) {
		/* parent will see the exit code alone */
	}
	_exit(err == ENOENT ? 127 : 126);
}

struct request {
	const char *cwd;
	int tty;
	unsigned short rows, cols;
	const char *log_path;
	const char *exit_path;
	char **argv;
	char **envp;
};

/* Splits the 'R' payload into fields; returns 0 or -1 on a malformed request. */
static int parse_request(unsigned char *payload, size_t len, struct request *r, char ***storage)
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
	if (strcmp(f[0], "1") != 0) {
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

static int remember_detached(pid_t pid, const char *exit_path)
{
	for (int i = 0; i < MAX_DETACHED; i++) {
		if (detached[i].pid == 0) {
			detached[i].pid = pid;
			snprintf(detached[i].exit_path, sizeof detached[i].exit_path, "%s", exit_path);
			return 0;
		}
	}
	return -1;
}

/* Forks and execs the request. On failure reports it on the session. */
static void start_command(struct session *s, struct request *r)
{
	int errpipe[2] = {-1, -1};
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	int master = -1;
	char slave_name[128];
	int detach = r->log_path[0] != 0;
	int log_fd = -1;

	if (pipe2(errpipe, O_CLOEXEC) < 0)
		goto fail;
	if (detach) {
		log_fd = open(r->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (log_fd < 0)
			goto fail;
	} else if (r->tty) {
		master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
		    ptsname_r(master, slave_name, sizeof slave_name) != 0)
			goto fail;
		struct winsize ws = {.ws_row = r->rows ? r->rows : 24, .ws_col = r->cols ? r->cols : 80};
		ioctl(master, TIOCSWINSZ, &ws);
	} else if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		goto fail;
	}

	pid_t pid = fork();
	if (pid < 0)
		goto fail;
	if (pid == 0) {
		child_reset_signals();
		setsid();
		if (detach) {
			int null_fd = open("/dev/null", O_RDONLY);
			dup2(null_fd, 0);
			dup2(log_fd, 1);
			dup2(log_fd, 2);
		} else if (r->tty) {
			int slave = open(slave_name, O_RDWR);
			if (slave < 0)
				child_fail(errpipe[1], "open terminal");
			ioctl(slave, TIOCSCTTY, 0);
			dup2(slave, 0);
			dup2(slave, 1);
			dup2(slave, 2);
		} else {
			dup2(in[0], 0);
			dup2(out[1], 1);
			dup2(err[1], 2);
		}
		if (r->cwd[0] && chdir(r->cwd) < 0)
			child_fail(errpipe[1], r->cwd);
		environ = r->envp;
		execvp(r->argv[0], r->argv);
		child_fail(errpipe[1], r->argv[0]);
	}

	/* Parent: the errpipe closes on a successful exec, or carries the reason. */
	close_fd(&errpipe[1]);
	char msg[512];
	ssize_t n;
	do
		n = read(errpipe[0], msg, sizeof msg - 1);
	while (n < 0 && errno == EINTR);
	close_fd(&errpipe[0]);
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&err[1]);
	close_fd(&log_fd);
	if (n > 0) {
		msg[n] = 0;
		int e = atoi(msg);
		const char *text = strchr(msg, ' ');
		waitpid(pid, NULL, 0);
		close_fd(&in[1]);
		close_fd(&out[0]);
		close_fd(&err[0]);
		close_fd(&master);
		send_error(s, e == ENOENT ? 127 : 126, "%s", text ? text + 1 : msg);
		return;
	}

	s->pid = pid;
	unsigned char p[4];
	put_u32(p, (uint32_t)pid);
	send_frame(s, T_STARTED, p, sizeof p);
	if (detach) {
		if (r->exit_path[0] && remember_detached(pid, r->exit_path) < 0)
			logf_console("too many detached commands; exit of pid %d will not be recorded", pid);
		s->pid = 0;
		s->closing = 1;
		return;
	}
	if (r->tty) {
		s->tty = 1;
		s->in_fd = s->out_fd = master;
		set_nonblock(master);
	} else {
		s->in_fd = in[1];
		s->out_fd = out[0];
		s->err_fd = err[0];
		set_nonblock(s->in_fd);
		set_nonblock(s->out_fd);
		set_nonblock(s->err_fd);
	}
	return;

fail:
	{
		int e = errno;
		close_fd(&errpipe[0]);
		close_fd(&errpipe[1]);
		close_fd(&in[0]);
		close_fd(&in[1]);
		close_fd(&out[0]);
		close_fd(&out[1]);
		close_fd(&err[0]);
		close_fd(&err[1]);
		close_fd(&master);
		close_fd(&log_fd);
		send_error(s, 126, "cannot start command: %s", strerror(e));
	}
}

static void handle_frame(struct session *s, unsigned char type, unsigned char *payload, size_t len)
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

/* Reads what the client sent; returns -1 when the connection is gone. */
static int read_client(struct session *s)
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

static void pump_output(struct session *s, int *fd, char type)
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

static void flush_stdin(struct session *s)
{
	ssize_t n = write(s->in_fd, s->ibuf.data, s->ibuf.len);
	if (n > 0)
		buf_consume(&s->ibuf, n);
	else if (n < 0 && errno != EAGAIN && errno != EINTR) {
		s->ibuf.len = 0;
		close_fd(&s->in_fd);
	}
}

static int flush_client(struct session *s)
{
	ssize_t n = write(s->conn, s->wbuf.data, s->wbuf.len);
	if (n > 0)
		buf_consume(&s->wbuf, n);
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		return -1;
	return 0;
}

/* The client went away: the command is hung up on, like a closed terminal. */
static void drop_client(struct session *s)
{
	if (s->pid > 0 && !s->exited) {
		kill(-s->pid, SIGHUP);
		kill(-s->pid, SIGCONT);
	}
	session_free(s);
}

static void record_detached_exit(pid_t pid, int status)
{
	for (int i = 0; i < MAX_DETACHED; i++) {
		if (detached[i].pid != pid)
			continue;
		char line[64];
		int n = WIFEXITED(status) ? snprintf(line, sizeof line, "%d 0\n", WEXITSTATUS(status))
					  : snprintf(line, sizeof line, "-1 %d\n", WTERMSIG(status));
		char tmp[4200];
		snprintf(tmp, sizeof tmp, "%s.tmp", detached[i].exit_path);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			if (write(fd, line, n) == n)
				rename(tmp, detached[i].exit_path);
			close(fd);
		}
		detached[i].pid = 0;
		return;
	}
}

static void reap(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == main_pid) {
			if (WIFEXITED(status))
				logf_console("main command exited with code %d", WEXITSTATUS(status));
			else
				logf_console("main command killed by signal %d", WTERMSIG(status));
			main_pid = 0;
		}
		record_detached_exit(pid, status);
		for (int i = 0; i < MAX_SESSIONS; i++) {
			if (sessions[i].used && sessions[i].pid == pid) {
				sessions[i].exited = 1;
				sessions[i].status = status;
			}
		}
	}
	if (terminating && pid < 0 && errno == ECHILD)
		exit(0);
}

/* The image's WorkingDir and User for the main process (OCI config): init itself stays root. */
static const char *main_cwd;
static long main_uid = -1, main_gid = -1;

static int start_main(char **argv)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		child_reset_signals();
		setsid();
		int null_fd = open("/dev/null", O_RDONLY);
		dup2(null_fd, 0);
		dup2(console_fd, 1);
		dup2(console_fd, 2);
		if (main_cwd && chdir(main_cwd) < 0 && (errno != ENOENT || mkdir(main_cwd, 0755) < 0 || chdir(main_cwd) < 0)) {
			dprintf(2, "[bothub-init] cannot enter %s: %s\n", main_cwd, strerror(errno));
			_exit(126);
		}
		if (main_gid >= 0) {
			gid_t g = (gid_t)main_gid;
			if (setgroups(1, &g) < 0 || setgid(g) < 0) {
				dprintf(2, "[bothub-init] cannot become group %ld: %s\n", main_gid, strerror(errno));
				_exit(126);
			}
		}
		if (main_uid >= 0 && setuid((uid_t)main_uid) < 0) {
			dprintf(2, "[bothub-init] cannot become user %ld: %s\n", main_uid, strerror(errno));
			_exit(126);
		}
		execvp(argv[0], argv);
		dprintf(2, "[bothub-init] cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	main_pid = pid;
	return 0;
}

static int listen_on(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof addr.sun_path)
		return -1;
	strcpy(addr.sun_path, path);
	unlink(path);
	/* Only root may ask init to run commands: the socket runs them as root. */
	mode_t old = umask(0077);
	int rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
	umask(old);
	if (rc < 0 || listen(fd, 128) < 0)
		return -1;
	return fd;
}

static void accept_clients(int listen_fd)
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

static void on_signal(int sfd)
{
	struct signalfd_siginfo si;
	while (read(sfd, &si, sizeof si) == sizeof si) {
		if (si.ssi_signo == SIGCHLD)
			continue; /* reaped below */
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			logf_console("stopping: sending SIGTERM to every process");
			terminating = 1;
			kill(-1, SIGTERM);
		}
	}
	reap();
}

int main(int argc, char **argv)
{
	const char *sock_path = NULL, *console_path = NULL;
	char **main_argv = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			sock_path = argv[++i];
		else if (!strcmp(argv[i], "--console") && i + 1 < argc)
			console_path = argv[++i];
		else if (!strcmp(argv[i], "--cwd") && i + 1 < argc)
			main_cwd = argv[++i];
		else if (!strcmp(argv[i], "--user") && i + 1 < argc) {
			if (sscanf(argv[++i], "%ld:%ld", &main_uid, &main_gid) != 2 || main_uid < 0 || main_gid < 0) {
				fprintf(stderr, "bothub-init: --user wants UID:GID\n");
				return 2;
			}
		}
		else if (!strcmp(argv[i], "--")) {
			if (i + 1 < argc)
				main_argv = argv + i + 1;
			break;
		} else if (!strcmp(argv[i], "--help")) {
			printf("usage: bothub-init --socket PATH --console PATH [--cwd DIR] [--user UID:GID] [-- CMD ARGS...]\n");
			return 0;
		} else {
			fprintf(stderr, "bothub-init: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (!sock_path || !console_path) {
		fprintf(stderr, "bothub-init: --socket and --console are required\n");
		return 2;
	}

	console_fd = open(console_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (console_fd < 0) {
		fprintf(stderr, "bothub-init: cannot open %s: %s\n", console_path, strerror(errno));
		return 1;
	}
	/* runc hands init the stdio of whoever ran it: drop them, so nothing in the
	 * sandbox holds a descriptor pointing outside it (CRIU would refuse). */
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null_fd >= 0)
		dup2(null_fd, 0);
	dup2(console_fd, 1);
	dup2(console_fd, 2);
	for (int i = 0; i < MAX_SESSIONS; i++)
		session_free(&sessions[i]);

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	int listen_fd = listen_on(sock_path);
	if (sfd < 0 || listen_fd < 0) {
		logf_console("cannot listen on %s: %s", sock_path, strerror(errno));
		return 1;
	}
	if (main_argv && start_main(main_argv) < 0)
		logf_console("cannot start main command: %s", strerror(errno));

	static struct pollfd pfds[2 + MAX_SESSIONS * 4];
	static struct {
		struct session *s;
		int which; /* 0 conn, 1 out, 2 err, 3 in */
	} owner[2 + MAX_SESSIONS * 4];

	for (;;) {
		int n = 0;
		pfds[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		pfds[n++] = (struct pollfd){.fd = listen_fd, .events = terminating ? 0 : POLLIN};
		for (int i = 0; i < MAX_SESSIONS; i++) {
			struct session *s = &sessions[i];
			if (!s->used)
				continue;
			short ev = POLLIN;
			if (s->wbuf.len)
				ev |= POLLOUT;
			owner[n].s = s, owner[n].which = 0;
			pfds[n++] = (struct pollfd){.fd = s->conn, .events = ev};
			int room = s->wbuf.len < HIGH_WATER;
			if (s->out_fd >= 0 && room) {
				owner[n].s = s, owner[n].which = 1;
				pfds[n++] = (struct pollfd){.fd = s->out_fd, .events = POLLIN};
			}
			if (s->err_fd >= 0 && room) {
				owner[n].s = s, owner[n].which = 2;
				pfds[n++] = (struct pollfd){.fd = s->err_fd, .events = POLLIN};
			}
			if (s->in_fd >= 0 && s->ibuf.len && s->in_fd != s->out_fd) {
				owner[n].s = s, owner[n].which = 3;
				pfds[n++] = (struct pollfd){.fd = s->in_fd, .events = POLLOUT};
			}
		}
		if (poll(pfds, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			logf_console("poll failed: %s", strerror(errno));
			return 1;
		}
		if (pfds[0].revents)
			on_signal(sfd);
		if (pfds[1].revents)
			accept_clients(listen_fd);
		for (int k = 2; k < n; k++) {
			struct session *s = owner[k].s;
			short re = pfds[k].revents;
			if (!re || !s->used || pfds[k].fd < 0)
				continue;
			switch (owner[k].which) {
			case 0:
				if ((re & POLLOUT) && flush_client(s) < 0) {
					drop_client(s);
					continue;
				}
				if ((re & (POLLIN | POLLHUP | POLLERR)) && read_client(s) < 0) {
					drop_client(s);
					continue;
				}
				break;
			case 1:
				if (s->out_fd == pfds[k].fd)
					pump_output(s, &s->out_fd, T_STDOUT);
				break;
			case 2:
				if (s->err_fd == pfds[k].fd)
					pump_output(s, &s->err_fd, T_STDERR);
				break;
			case 3:
				if (s->in_fd == pfds[k].fd)
					flush_stdin(s);
				break;
			}
		}
		/* Progress every session: stdin in tty mode, EOF on stdin, exit reports. */
		for (int i = 0; i < MAX_SESSIONS; i++) {
			struct session *s = &sessions[i];
			if (!s->used)
				continue;
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
	}
}
