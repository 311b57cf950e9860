/*
 * Starting one command. posix_spawn in glibc is clone(CLONE_VM|CLONE_VFORK)
 * then exec: no page tables are copied, so it costs the same whatever the
 * size of the process asking, unlike the daemon's own fork.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spawner.h"

/* The NUL-terminated field at *at, moving past it; NULL when none is left. */
static char *next_field(unsigned char **at, unsigned char *end)
{
	unsigned char *nul = *at < end ? memchr(*at, 0, (size_t)(end - *at)) : NULL;
	if (!nul)
		return NULL;
	char *field = (char *)*at;
	*at = nul + 1;
	return field;
}

/* A count field followed by that many fields, as a NULL-terminated array (malloc'd). */
static char **field_list(unsigned char **at, unsigned char *end)
{
	char *count = next_field(at, end);
	size_t n = count ? strtoul(count, NULL, 10) : 0;
	if (!count || n > (size_t)(end - *at))
		return NULL; /* more fields than bytes left: malformed */
	char **list = calloc(n + 1, sizeof *list);
	for (size_t i = 0; list && i < n; i++)
		if (!(list[i] = next_field(at, end))) {
			free(list);
			return NULL;
		}
	return list;
}

/* Reads the 'R' payload, the fields pointing into it; returns 0, or -1 when malformed. Free r->argv and r->envp. */
int parse_run(unsigned char *payload, size_t len, struct run_request *r)
{
	unsigned char *at = payload, *end = payload + len;
	char *version = next_field(&at, end);
	r->cwd = next_field(&at, end);
	char *stdin_mode = next_field(&at, end);
	if (!stdin_mode || strcmp(version, SPAWNER_PROTOCOL_VERSION) != 0)
		return -1;
	r->stdin_pipe = stdin_mode[0] == '1';
	r->argv = field_list(&at, end);
	r->envp = r->argv ? field_list(&at, end) : NULL;
	if (!r->envp || !r->argv[0] || at != end) {
		free(r->argv);
		free(r->envp);
		return -1;
	}
	return 0;
}

static const char *env_path(char **envp)
{
	for (char **e = envp; *e; e++)
		if (!strncmp(*e, "PATH=", 5))
			return *e + 5;
	return "/usr/bin:/bin";
}

/*
 * execvp's search, in the command's own PATH (as Node's child_process does),
 * not the spawner's: ENOENT, ENOTDIR and EACCES move on to the next
 * directory, EACCES is reported if nothing ran. A cheap access() skips the
 * directories that lack the file instead of a spawn that fails.
 */
/* An executable without a #! line (ENOEXEC) is run by /bin/sh, as execvp does. */
static int spawn_file(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr, char **argv, char **envp)
{
	int rc = posix_spawn(pid, path, fa, attr, argv, envp);
	if (rc != ENOEXEC)
		return rc;
	size_t argc = 0;
	while (argv[argc])
		argc++;
	char **sh = calloc(argc + 2, sizeof *sh);
	if (!sh)
		return ENOMEM;
	sh[0] = "/bin/sh";
	sh[1] = (char *)path;
	memcpy(sh + 2, argv + 1, (argc - 1) * sizeof *sh);
	rc = posix_spawn(pid, "/bin/sh", fa, attr, sh, envp);
	free(sh);
	return rc;
}

static int spawn_in_path(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr, char **argv, char **envp)
{
	if (strchr(file, '/'))
		return spawn_file(pid, file, fa, attr, argv, envp);
	int denied = 0;
	char full[PATH_MAX];
	for (const char *p = env_path(envp);; p++) {
		const char *end = strchrnul(p, ':');
		int dlen = (int)(end - p);
		int n = dlen ? snprintf(full, sizeof full, "%.*s/%s", dlen, p, file) : snprintf(full, sizeof full, "%s", file);
		/* A relative directory is relative to the command's cwd, which access() here would not see. */
		int skip = n >= (int)sizeof full || (dlen && p[0] == '/' && access(full, F_OK) < 0);
		if (!skip) {
			int rc = spawn_file(pid, full, fa, attr, argv, envp);
			if (rc == EACCES)
				denied = 1;
			else if (rc != ENOENT && rc != ENOTDIR)
				return rc;
		}
		if (!*end)
			break;
		p = end;
	}
	return denied ? EACCES : ENOENT;
}

/*
 * glibc's sigfillset leaves out its two internal signals (32 and 33, for
 * thread cancellation and setxid), and posix_spawn sets any signal not in the
 * SETSIGDEF set to SIG_IGN in the child, which exec keeps: their bits are set
 * by hand so commands start with every disposition at default, as Node's
 * children do.
 */
static void add_internal_signals(sigset_t *set)
{
	unsigned long *words = (unsigned long *)set;
	const size_t bits = 8 * sizeof *words;
	for (int sig = 32; sig <= 33; sig++)
		words[(sig - 1) / bits] |= 1UL << ((sig - 1) % bits);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * Starts r's command with stdout and stderr on fresh pipes (and stdin on one
 * too, or /dev/null), default signal dispositions and an empty signal mask.
 * Every fd of ours is O_CLOEXEC, so the command inherits only its three.
 * Returns 0 (j->pid and our ends set, non-blocking) or an errno.
 */
int spawn_job(struct job *j, const struct run_request *r)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int rc = 0;

	if ((r->stdin_pipe && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		rc = errno;
		goto done;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	add_internal_signals(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (r->stdin_pipe)
		posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	if (r->cwd[0])
		posix_spawn_file_actions_addchdir_np(&fa, r->cwd);
	rc = spawn_in_path(&j->pid, r->argv[0], &fa, &attr, r->argv, r->envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
done:
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&err[1]);
	if (rc) {
		close_fd(&in[1]);
		close_fd(&out[0]);
		close_fd(&err[0]);
		return rc;
	}
	j->in_fd = in[1];
	j->out_fd = out[0];
	j->err_fd = err[0];
	int fds[3] = {j->in_fd, j->out_fd, j->err_fd};
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
	return 0;
}
