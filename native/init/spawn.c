/* Forking commands: exec requests (attached or detached) and the main command. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "init.h"

extern char **environ;

struct detached {
	pid_t pid;
	char exit_path[4096];
};

static struct detached detached[MAX_DETACHED];
pid_t main_pid = 0;
/* The image's WorkingDir and User for the main process (OCI config): init itself stays root. */
const char *main_cwd;
long main_uid = -1, main_gid = -1;

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Runs in the forked main command: restore what init changed, then become the command. */
static void child_reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
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

/* Writes "<code> <signal>\n" where a detached command's exit was asked for (atomically: tmp, then rename). */
void record_detached_exit(pid_t pid, int status)
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

/*
 * glibc's posix_spawn leaves its two internal signals (SIGCANCEL, SIGSETXID:
 * the kernel's first two real-time ones) ignored in the child, and an ignored
 * signal stays ignored across exec: asking for their default keeps the
 * command's dispositions what fork gave it. sigaddset refuses them, so their
 * bits are set directly (a sigset_t is a bit array: signal n is bit n - 1).
 */
static void add_internal_signals(sigset_t *set)
{
	unsigned long *words = (unsigned long *)set;
	const int bits = 8 * sizeof(unsigned long);
	for (int sig = __SIGRTMIN; sig <= __SIGRTMIN + 1; sig++)
		words[(sig - 1) / bits] |= 1UL << ((sig - 1) % bits);
}

/*
 * What a failed spawn was about: the working directory when it cannot be
 * entered, the terminal when it cannot be opened, else the program. Asked only
 * after a failure (posix_spawn returns the child's errno, not which step).
 */
static const char *spawn_failure_subject(const struct request *r, const char *slave_name)
{
	struct stat st;
	if (r->cwd[0] && (stat(r->cwd, &st) < 0 || !S_ISDIR(st.st_mode)))
		return r->cwd;
	if (r->tty) {
		int fd = open(slave_name, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return "open terminal";
		close(fd);
	}
	return r->argv[0];
}

/*
 * Starts the request's command with posix_spawn: glibc's clone(CLONE_VM |
 * CLONE_VFORK) copies none of init's page tables, where fork copied them and
 * both sides took copy-on-write faults until the child exec'd (on a
 * Firecracker VM, 1.7 ms of the 7 ms of CPU an exec of `true` cost). The child
 * becomes a session leader, gets its stdio, enters the working directory,
 * with init's blocked signals unblocked and SIGPIPE back to default. On
 * failure reports it on the session.
 */
void start_command(struct session *s, struct request *r)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	int master = -1;
	char slave_name[128] = "";
	int detach = r->log_path[0] != 0;
	int log_fd = -1;
	int e = 0;
	posix_spawn_file_actions_t actions;
	posix_spawnattr_t attr;
	sigset_t none, defaults;

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

	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	add_internal_signals(&defaults);
	if ((e = posix_spawnattr_init(&attr)) != 0)
		goto fail_errno;
	if ((e = posix_spawn_file_actions_init(&actions)) != 0) {
		posix_spawnattr_destroy(&attr);
		goto fail_errno;
	}
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	/* The actions run after setsid: a session leader opening the terminal makes it its controlling one. */
	if (detach) {
		e = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
		if (!e)
			e = posix_spawn_file_actions_adddup2(&actions, log_fd, 1);
		if (!e)
			e = posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
	} else if (r->tty) {
		e = posix_spawn_file_actions_addopen(&actions, 0, slave_name, O_RDWR, 0);
		if (!e)
			e = posix_spawn_file_actions_adddup2(&actions, 0, 1);
		if (!e)
			e = posix_spawn_file_actions_adddup2(&actions, 0, 2);
	} else {
		e = posix_spawn_file_actions_adddup2(&actions, in[0], 0);
		if (!e)
			e = posix_spawn_file_actions_adddup2(&actions, out[1], 1);
		if (!e)
			e = posix_spawn_file_actions_adddup2(&actions, err[1], 2);
	}
	if (!e && r->cwd[0])
		e = posix_spawn_file_actions_addchdir_np(&actions, r->cwd);
	pid_t pid = 0;
	if (!e) {
		/* posix_spawnp searches the PATH of the environment it runs in: the command's own, as execvp did after setting environ. */
		char **own = environ;
		environ = r->envp;
		e = posix_spawnp(&pid, r->argv[0], &actions, &attr, r->argv, r->envp);
		environ = own;
	}
	posix_spawn_file_actions_destroy(&actions);
	posix_spawnattr_destroy(&attr);
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&err[1]);
	close_fd(&log_fd);
	if (e) {
		const char *subject = spawn_failure_subject(r, slave_name);
		close_fd(&in[1]);
		close_fd(&out[0]);
		close_fd(&err[0]);
		close_fd(&master);
		send_error(s, e == ENOENT ? 127 : 126, "%s: %s", subject, strerror(e));
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
	e = errno;
fail_errno:
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

int start_main(char **argv)
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
