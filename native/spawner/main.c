/*
 * bothub-spawner: starts the bothub daemon's host commands for it.
 *
 *   bothub-spawner      (frames on stdin and stdout, see protocol.h)
 *
 * One per daemon, started while the daemon is still small. Each request runs
 * one command with posix_spawn; its output streams back as frames while it
 * runs, then its exit status. Nothing here blocks on one command: every fd is
 * non-blocking, one poll() waits on all of them, and a signalfd reports
 * SIGCHLD.
 *
 * It ends when the daemon's end of stdin closes (the daemon exited or gave it
 * up) and leaves the commands it started running: a container's `runc run
 * --detach` must survive a daemon restart, as it did when the daemon spawned
 * it itself. Terminal and stop signals are ignored so that a Ctrl-C or a
 * service manager's SIGTERM lets the daemon finish its shutdown commands.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawner.h"

static int ctl_in = -1, ctl_out = -1, sig_fd = -1;
static struct buf rbuf, wbuf; /* frames from the daemon, frames to it */
static struct job **jobs;
static size_t njobs, jobs_cap;

static void die(const char *what)
{
	fprintf(stderr, "bothub-spawner: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void send_frame(char type, uint32_t id, const void *payload, size_t len)
{
	if (buf_reserve(&wbuf, SPAWNER_FRAME_HEADER + len) < 0)
		die("out of memory");
	unsigned char *p = wbuf.data + wbuf.len;
	p[0] = (unsigned char)type;
	put_u32(p + 1, id);
	put_u32(p + 5, (uint32_t)len);
	if (len)
		memcpy(p + SPAWNER_FRAME_HEADER, payload, len);
	wbuf.len += SPAWNER_FRAME_HEADER + len;
}

static void send_i32(char type, uint32_t id, int32_t a)
{
	unsigned char p[4];
	put_u32(p, (uint32_t)a);
	send_frame(type, id, p, sizeof p);
}

static struct job *find_job(uint32_t id)
{
	for (size_t i = 0; i < njobs; i++)
		if (jobs[i]->id == id)
			return jobs[i];
	return NULL;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void run(uint32_t id, unsigned char *payload, size_t len)
{
	struct run_request r;
	if (find_job(id) || parse_run(payload, len, &r) < 0) {
		send_i32(S_FAILED, id, EPROTO);
		return;
	}
	struct job *j = calloc(1, sizeof *j);
	if (!j || (njobs == jobs_cap && !(jobs = reallocarray(jobs, jobs_cap = jobs_cap ? jobs_cap * 2 : 64, sizeof *jobs))))
		die("out of memory");
	j->id = id;
	int rc = spawn_job(j, &r);
	free(r.argv);
	free(r.envp);
	if (rc) {
		free(j);
		send_i32(S_FAILED, id, rc);
		return;
	}
	jobs[njobs++] = j;
	send_i32(S_STARTED, id, j->pid);
}

static void close_stdin_if_done(struct job *j)
{
	if (j->stdin_eof && j->ibuf.len == j->ibuf.head) {
		close_fd(&j->in_fd);
		buf_free(&j->ibuf);
	}
}

static void on_frame(char type, uint32_t id, unsigned char *payload, size_t len)
{
	if (type == S_RUN) {
		run(id, payload, len);
		return;
	}
	struct job *j = find_job(id);
	if (!j)
		return; /* already finished: its stdin or a late kill no longer matter */
	switch (type) {
	case S_STDIN:
		if (j->in_fd >= 0 && !j->stdin_eof && buf_append(&j->ibuf, payload, len) < 0)
			die("out of memory");
		break;
	case S_STDIN_EOF:
		j->stdin_eof = 1;
		close_stdin_if_done(j);
		break;
	case S_KILL:
		/* Never after the reap: the pid may belong to someone else by then. */
		if (len == 4 && !j->exited)
			kill(j->pid, (int)get_u32(payload));
		break;
	}
}

/* Reads what the daemon sent; its end closing ends the spawner. */
static void read_control(void)
{
	if (buf_reserve(&rbuf, READ_CHUNK) < 0)
		die("out of memory");
	ssize_t n = read(ctl_in, rbuf.data + rbuf.len, READ_CHUNK);
	if (n == 0)
		exit(0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		die("reading requests");
	}
	rbuf.len += (size_t)n;
	while (rbuf.len - rbuf.head >= SPAWNER_FRAME_HEADER) {
		unsigned char *p = rbuf.data + rbuf.head;
		uint32_t len = get_u32(p + 5);
		if (len > SPAWNER_FRAME_MAX) {
			errno = EPROTO;
			die("a frame over the protocol's limit");
		}
		if (rbuf.len - rbuf.head < SPAWNER_FRAME_HEADER + len)
			break;
		on_frame((char)p[0], get_u32(p + 1), p + SPAWNER_FRAME_HEADER, len);
		buf_consume(&rbuf, SPAWNER_FRAME_HEADER + len);
	}
}

/* Writes as much as the daemon's pipe takes now; the rest waits for POLLOUT. */
static void flush_control(void)
{
	while (wbuf.len > wbuf.head) {
		ssize_t n = write(ctl_out, wbuf.data + wbuf.head, wbuf.len - wbuf.head);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			if (errno == EPIPE)
				exit(0); /* the daemon is gone */
			die("writing replies");
		}
		buf_consume(&wbuf, (size_t)n);
	}
}

/* One read of a command's stdout or stderr, straight into an output frame. */
static void pump_output(struct job *j, int *fd, char type)
{
	if (buf_reserve(&wbuf, SPAWNER_FRAME_HEADER + READ_CHUNK) < 0)
		die("out of memory");
	unsigned char *p = wbuf.data + wbuf.len;
	ssize_t n = read(*fd, p + SPAWNER_FRAME_HEADER, READ_CHUNK);
	if (n > 0) {
		p[0] = (unsigned char)type;
		put_u32(p + 1, j->id);
		put_u32(p + 5, (uint32_t)n);
		wbuf.len += SPAWNER_FRAME_HEADER + (size_t)n;
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		close_fd(fd);
	}
}

static void flush_stdin(struct job *j)
{
	while (j->ibuf.len > j->ibuf.head) {
		ssize_t n = write(j->in_fd, j->ibuf.data + j->ibuf.head, j->ibuf.len - j->ibuf.head);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			/* The command closed its stdin (EPIPE): what it did not read is dropped, as Node does. */
			close_fd(&j->in_fd);
			buf_free(&j->ibuf);
			return;
		}
		buf_consume(&j->ibuf, (size_t)n);
	}
	close_stdin_if_done(j);
}

static void reap(void)
{
	struct signalfd_siginfo si;
	while (read(sig_fd, &si, sizeof si) == sizeof si)
		;
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (size_t i = 0; i < njobs; i++)
			if (jobs[i]->pid == pid && !jobs[i]->exited) {
				jobs[i]->exited = 1;
				jobs[i]->status = status;
			}
}

/* A job is done once its command exited and both output pipes reached EOF (as Node's 'close'). */
static void finish_jobs(void)
{
	for (size_t i = 0; i < njobs;) {
		struct job *j = jobs[i];
		if (!j->exited || j->out_fd >= 0 || j->err_fd >= 0) {
			i++;
			continue;
		}
		unsigned char p[8];
		int signaled = WIFSIGNALED(j->status);
		put_u32(p, (uint32_t)(signaled ? -1 : WEXITSTATUS(j->status)));
		put_u32(p + 4, (uint32_t)(signaled ? WTERMSIG(j->status) : 0));
		send_frame(S_EXIT, j->id, p, sizeof p);
		close_fd(&j->in_fd);
		buf_free(&j->ibuf);
		free(j);
		jobs[i] = jobs[--njobs];
	}
}

/* The protocol leaves fds 0 and 1 for /dev/null, so no command can ever inherit it. */
static void setup_fds(void)
{
	ctl_in = fcntl(0, F_DUPFD_CLOEXEC, 3);
	ctl_out = fcntl(1, F_DUPFD_CLOEXEC, 3);
	if (ctl_in < 0 || ctl_out < 0)
		die("no protocol fds on stdin and stdout");
	int null = open("/dev/null", O_RDWR);
	if (null < 0)
		die("/dev/null");
	for (int fd = 0; fd <= 2; fd++)
		if (fd != 2 || fcntl(2, F_GETFD) < 0)
			dup2(null, fd);
	if (null > 2)
		close(null);
	fcntl(ctl_in, F_SETFL, fcntl(ctl_in, F_GETFL) | O_NONBLOCK);
	fcntl(ctl_out, F_SETFL, fcntl(ctl_out, F_GETFL) | O_NONBLOCK);
}

static void setup_signals(void)
{
	int ignored[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU};
	for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++)
		signal(ignored[i], SIG_IGN);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	sig_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig_fd < 0)
		die("signalfd");
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "usage: %s (run by the bothub daemon; speaks frames on stdin and stdout)\n", argv[0]);
		return 2;
	}
	setup_fds();
	setup_signals();
	struct pollfd *pfds = NULL;
	struct job **owner = NULL; /* the job of each pollfd past the first three */
	size_t pcap = 0;
	for (;;) {
		size_t need = 3 + 3 * njobs;
		if (need > pcap) {
			pcap = need * 2;
			if (!(pfds = reallocarray(pfds, pcap, sizeof *pfds)) || !(owner = reallocarray(owner, pcap, sizeof *owner)))
				die("out of memory");
		}
		size_t n = 0;
		pfds[n++] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
		pfds[n++] = (struct pollfd){.fd = ctl_in, .events = POLLIN};
		pfds[n++] = (struct pollfd){.fd = wbuf.len > wbuf.head ? ctl_out : -1, .events = POLLOUT};
		int room = wbuf.len - wbuf.head < HIGH_WATER;
		for (size_t i = 0; i < njobs; i++) {
			struct job *j = jobs[i];
			if (room && j->out_fd >= 0)
				owner[n] = j, pfds[n++] = (struct pollfd){.fd = j->out_fd, .events = POLLIN};
			if (room && j->err_fd >= 0)
				owner[n] = j, pfds[n++] = (struct pollfd){.fd = j->err_fd, .events = POLLIN};
			if (j->in_fd >= 0 && j->ibuf.len > j->ibuf.head)
				owner[n] = j, pfds[n++] = (struct pollfd){.fd = j->in_fd, .events = POLLOUT};
		}
		if (poll(pfds, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (pfds[0].revents)
			reap();
		/* Output first: a job may finish below, and its jobs[] slot be reused. */
		for (size_t k = 3; k < n; k++) {
			struct job *j = owner[k];
			if (!pfds[k].revents)
				continue;
			if (pfds[k].fd == j->out_fd)
				pump_output(j, &j->out_fd, S_STDOUT);
			else if (pfds[k].fd == j->err_fd)
				pump_output(j, &j->err_fd, S_STDERR);
			else if (pfds[k].fd == j->in_fd)
				flush_stdin(j);
		}
		if (pfds[1].revents)
			read_control();
		finish_jobs();
		flush_control();
	}
}
