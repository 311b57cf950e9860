/*
 * bothub-lazy-guard: runs CRIU's lazy-pages daemon for one lazy restore, fed
 * by the bothub daemon's page server, and kills the sandbox if that daemon
 * fails before every page is in.
 *
 *   bothub-lazy-guard SOCKET RUNC_ROOT CONTAINER -- CRIU lazy-pages ARGS...
 *
 * It listens on the Unix socket SOCKET (mode 0600) for exactly one
 * connection: the bothub daemon's, which answers CRIU's page-server requests
 * from its chunk store. That connection becomes CRIU's fd 3 (the daemon
 * passes `--page-server --ps-socket 3`), and the socket's name is removed so
 * nobody else can connect.
 *
 * Why a guard at all: a restored process's untouched pages live only in the
 * page server. If the bothub daemon dies mid-transfer, CRIU's lazy-pages
 * loses its source and exits, its userfaultfd closes, and from then on the
 * kernel would fill every untouched page with zeros: a sandbox alive with
 * half its memory gone. So when CRIU exits non-zero (or by a signal), this
 * kills the container at once (`runc kill CONTAINER KILL`), whether or not
 * the bothub daemon is still there to do it. It is not tied to the bothub
 * daemon's life for the same reason.
 *
 * SIGTERM and SIGINT are passed on to CRIU (the daemon giving up a restore
 * that failed before the sandbox ran). Exits with CRIU's status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* The fd CRIU is told to use (--ps-socket 3): the first after stdio. */
#define PS_FD 3
/* CRIU's priority below the daemon's (see the child's comment in main). */
#define LAZY_NICE 10

static volatile sig_atomic_t criu_pid;

static void pass_on(int sig)
{
	if (criu_pid > 0)
		kill(criu_pid, sig);
}

static void die(const char *what)
{
	fprintf(stderr, "bothub-lazy-guard: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Waits for one connection on `path`, then removes the name. */
static int accept_one(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		die(path);
	}
	strcpy(addr.sun_path, path);
	int lsk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lsk < 0)
		die("socket");
	unlink(path);
	mode_t old = umask(0177);
	if (bind(lsk, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die(path);
	umask(old);
	if (listen(lsk, 1) < 0)
		die("listen");
	int sk;
	while ((sk = accept4(lsk, NULL, NULL, SOCK_CLOEXEC)) < 0)
		if (errno != EINTR)
			die("accept");
	unlink(path);
	close(lsk);
	return sk;
}

/* `runc --root ROOT kill CONTAINER KILL`: ends the sandbox's pid namespace, and every process in it. */
static void kill_container(const char *root, const char *container)
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		execlp("runc", "runc", "--root", root, "kill", container, "KILL", (char *)NULL);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	fprintf(stderr, "bothub-lazy-guard: the page source failed; sandbox %s killed\n", container);
}

int main(int argc, char **argv)
{
	if (argc < 6 || strcmp(argv[4], "--") != 0) {
		fprintf(stderr, "usage: bothub-lazy-guard SOCKET RUNC_ROOT CONTAINER -- CRIU lazy-pages ARGS...\n");
		return 2;
	}
	const char *root = argv[2], *container = argv[3];
	/* A daemon that died before it connected leaves nobody to wait for. */
	alarm(60);
	int sk = accept_one(argv[1]);
	alarm(0);

	struct sigaction sa = { .sa_handler = pass_on };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* The daemon that started us may be gone: its pipes must not kill us. */
	signal(SIGPIPE, SIG_IGN);

	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		/* dup2 clears close-on-exec on the copy: CRIU inherits exactly this one. */
		if (dup2(sk, PS_FD) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		/*
		 * CRIU's lazy-pages polls without sleeping while it waits for the
		 * page server's answers. At the default priority that spinning took
		 * a core from everything else, the daemon serving it included: ten
		 * 1 GiB branches made one after the other took 14.7 s, and 8.5 s
		 * with CRIU at nice 10 (9.7 s at 19, where faults wait longer).
		 */
		errno = 0;
		if (nice(LAZY_NICE) < 0 && errno)
			_exit(127);
		execvp(argv[5], argv + 5);
		fprintf(stderr, "bothub-lazy-guard: %s: %s\n", argv[5], strerror(errno));
		_exit(127);
	}
	criu_pid = pid;
	close(sk);

	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	kill_container(root, container);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
