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
 * Single-threaded: one poll() loop owns every descriptor. The parts are named in init.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"

int console_fd = -1;
static int terminating = 0;

void logf_console(const char *fmt, ...)
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
		session_exited(pid, status);
	}
	if (terminating && pid < 0 && errno == ECHILD)
		exit(0);
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

/* Returns 0 to run, 1 to exit 0 (--help), or 2 on a bad argument. */
static int parse_args(int argc, char **argv, const char **sock_path, const char **console_path, char ***main_argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			*sock_path = argv[++i];
		else if (!strcmp(argv[i], "--console") && i + 1 < argc)
			*console_path = argv[++i];
		else if (!strcmp(argv[i], "--cwd") && i + 1 < argc)
			main_cwd = argv[++i];
		else if (!strcmp(argv[i], "--user") && i + 1 < argc) {
			if (sscanf(argv[++i], "%ld:%ld", &main_uid, &main_gid) != 2 || main_uid < 0 || main_gid < 0) {
				fprintf(stderr, "bothub-init: --user wants UID:GID\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--")) {
			if (i + 1 < argc)
				*main_argv = argv + i + 1;
			break;
		} else if (!strcmp(argv[i], "--help")) {
			printf("usage: bothub-init --socket PATH --console PATH [--cwd DIR] [--user UID:GID] [-- CMD ARGS...]\n");
			return 1;
		} else {
			fprintf(stderr, "bothub-init: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (!*sock_path || !*console_path) {
		fprintf(stderr, "bothub-init: --socket and --console are required\n");
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *sock_path = NULL, *console_path = NULL;
	char **main_argv = NULL;
	int rc = parse_args(argc, argv, &sock_path, &console_path, &main_argv);
	if (rc)
		return rc == 1 ? 0 : rc;
	/* Stopping sends SIGTERM to every process (kill -1): that is the sandbox only
	 * when this is PID 1 of its own PID namespace. Anywhere else it would be
	 * every process of the machine, so refuse to start. */
	if (getpid() != 1) {
		fprintf(stderr, "bothub-init: must be PID 1 of a sandbox's PID namespace (it is started by runc, not by hand)\n");
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
		for (int i = 0; i < MAX_SESSIONS; i++)
			if (sessions[i].used)
				progress_session(&sessions[i]);
	}
}
