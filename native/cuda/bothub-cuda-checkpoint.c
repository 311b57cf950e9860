/*
 * bothub-cuda-checkpoint: drives the CUDA driver's checkpoint API for one
 * process, so CRIU can then dump it with no GPU state left in the way.
 *
 *   get-state   --pid PID                      prints running|locked|checkpointed|failed
 *   lock        --pid PID [--timeout-ms N]     CUDA calls of the process block from now on
 *   checkpoint  --pid PID                      device memory to host memory; the GPU is released
 *   restore     --pid PID [--remap OLD=NEW]... back onto the GPUs (or others of the same model, by UUID)
 *   unlock      --pid PID                      CUDA calls go on
 *
 * Exit status: 0 done, 1 the driver refused (its error on stderr), 2 usage,
 * 3 no NVIDIA driver here. libcuda.so.1 is opened at run time, so the helper
 * builds against cuda.h alone and answers --help on machines without a GPU.
 * This is the protocol bothub speaks to it (and its test fake speaks too).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda.h>

enum { EXIT_OK = 0, EXIT_CUDA = 1, EXIT_USAGE = 2, EXIT_NO_DRIVER = 3 };

#define MAX_REMAP 64

static const char *USAGE =
	"usage: bothub-cuda-checkpoint COMMAND --pid PID [options]\n"
	"\n"
	"  get-state   --pid PID                      print running|locked|checkpointed|failed\n"
	"  lock        --pid PID [--timeout-ms N]     block the process's CUDA calls (0: wait forever)\n"
	"  checkpoint  --pid PID                      copy device memory to host memory, release the GPU\n"
	"  restore     --pid PID [--remap OLD=NEW]... restore, optionally onto other GPUs by UUID\n"
	"  unlock      --pid PID                      let CUDA calls go on\n"
	"\n"
	"exit status: 0 done, 1 the CUDA driver refused, 2 usage, 3 no NVIDIA driver on this host\n";

struct driver {
	CUresult (*init)(unsigned int);
	CUresult (*error_name)(CUresult, const char **);
	CUresult (*error_string)(CUresult, const char **);
	CUresult (*get_state)(int, CUprocessState *);
	CUresult (*lock)(int, CUcheckpointLockArgs *);
	CUresult (*checkpoint)(int, CUcheckpointCheckpointArgs *);
	CUresult (*restore)(int, CUcheckpointRestoreArgs *);
	CUresult (*unlock)(int, CUcheckpointUnlockArgs *);
};

static int load_driver(struct driver *d)
{
	void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "bothub-cuda-checkpoint: libcuda.so.1 cannot be loaded (%s): no NVIDIA driver on this host\n", dlerror());
		return -1;
	}
	struct {
		const char *name;
		void **slot;
	} syms[] = {
		{ "cuInit", (void **)&d->init },
		{ "cuGetErrorName", (void **)&d->error_name },
		{ "cuGetErrorString", (void **)&d->error_string },
		{ "cuCheckpointProcessGetState", (void **)&d->get_state },
		{ "cuCheckpointProcessLock", (void **)&d->lock },
		{ "cuCheckpointProcessCheckpoint", (void **)&d->checkpoint },
		{ "cuCheckpointProcessRestore", (void **)&d->restore },
		{ "cuCheckpointProcessUnlock", (void **)&d->unlock },
	};
	for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
		*syms[i].slot = dlsym(lib, syms[i].name);
		if (!*syms[i].slot) {
			fprintf(stderr, "bothub-cuda-checkpoint: the NVIDIA driver lacks %s; checkpointing needs driver 550 or newer\n", syms[i].name);
			return -1;
		}
	}
	return 0;
}

static int fail(const struct driver *d, const char *what, int pid, CUresult r)
{
	const char *name = "CUDA_ERROR_UNKNOWN", *text = "";
	d->error_name(r, &name);
	d->error_string(r, &text);
	fprintf(stderr, "bothub-cuda-checkpoint: %s of pid %d failed: %s: %s\n", what, pid, name, text);
	return EXIT_CUDA;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "GPU-8b1c…" (nvidia-smi's form) or bare hex with dashes → 16 bytes. */
static int parse_uuid(const char *s, CUuuid *out)
{
	if (strncmp(s, "GPU-", 4) == 0)
		s += 4;
	int n = 0;
	for (; *s && n < 32; s++) {
		if (*s == '-')
			continue;
		int v = hexval((unsigned char)*s);
		if (v < 0)
			return -1;
		if (n % 2 == 0)
			out->bytes[n / 2] = (char)(v << 4);
		else
			out->bytes[n / 2] |= (char)v;
		n++;
	}
	return n == 32 && *s == 0 ? 0 : -1;
}

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "bothub-cuda-checkpoint: %s%s%s (see --help)\n", msg, arg ? ": " : "", arg ? arg : "");
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(USAGE, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	const char *cmd = argv[1];
	long pid = -1;
	unsigned int timeout_ms = 0;
	CUcheckpointGpuPair pairs[MAX_REMAP];
	unsigned int npairs = 0;
	memset(pairs, 0, sizeof pairs);

	for (int i = 2; i < argc; i++) {
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;
		if (strcmp(argv[i], "--pid") == 0 && value) {
			errno = 0;
			pid = strtol(value, &end, 10);
			if (errno || *end || pid <= 0)
				return usage_error("--pid wants a process id", value);
			i++;
		} else if (strcmp(argv[i], "--timeout-ms") == 0 && value) {
			unsigned long t = strtoul(value, &end, 10);
			if (*end || t > 0xffffffffUL)
				return usage_error("--timeout-ms wants milliseconds", value);
			timeout_ms = (unsigned int)t;
			i++;
		} else if (strcmp(argv[i], "--remap") == 0 && value) {
			const char *eq = strchr(value, '=');
			char old[64];
			if (!eq || (size_t)(eq - value) >= sizeof old || npairs == MAX_REMAP)
				return usage_error("--remap wants OLD-UUID=NEW-UUID", value);
			memcpy(old, value, (size_t)(eq - value));
			old[eq - value] = 0;
			if (parse_uuid(old, &pairs[npairs].oldUuid) || parse_uuid(eq + 1, &pairs[npairs].newUuid))
				return usage_error("--remap wants GPU UUIDs as nvidia-smi prints them", value);
			npairs++;
			i++;
		} else {
			return usage_error("unknown or incomplete option", argv[i]);
		}
	}
	int known = !strcmp(cmd, "get-state") || !strcmp(cmd, "lock") || !strcmp(cmd, "checkpoint") || !strcmp(cmd, "restore") || !strcmp(cmd, "unlock");
	if (!known)
		return usage_error("unknown command", cmd);
	if (pid <= 0)
		return usage_error("--pid is required", NULL);
	if (npairs && strcmp(cmd, "restore") != 0)
		return usage_error("--remap goes with restore only", NULL);

	struct driver d;
	if (load_driver(&d) < 0)
		return EXIT_NO_DRIVER;

	CUresult r;
	if (!strcmp(cmd, "get-state")) {
		CUprocessState state;
		if ((r = d.get_state((int)pid, &state)) != CUDA_SUCCESS)
			return fail(&d, "get-state", (int)pid, r);
		static const char *names[] = { "running", "locked", "checkpointed", "failed" };
		puts(state <= CU_PROCESS_STATE_FAILED ? names[state] : "unknown");
	} else if (!strcmp(cmd, "lock")) {
		CUcheckpointLockArgs args;
		memset(&args, 0, sizeof args);
		args.timeoutMs = timeout_ms;
		if ((r = d.lock((int)pid, &args)) != CUDA_SUCCESS)
			return fail(&d, "lock", (int)pid, r);
	} else if (!strcmp(cmd, "checkpoint")) {
		CUcheckpointCheckpointArgs args;
		memset(&args, 0, sizeof args);
		if ((r = d.checkpoint((int)pid, &args)) != CUDA_SUCCESS)
			return fail(&d, "checkpoint", (int)pid, r);
	} else if (!strcmp(cmd, "restore")) {
		/* Restore needs an initialised driver somewhere (or persistence mode): ours will do. */
		d.init(0);
		CUcheckpointRestoreArgs args;
		memset(&args, 0, sizeof args);
		args.gpuPairs = npairs ? pairs : NULL;
		args.gpuPairsCount = npairs;
		if ((r = d.restore((int)pid, npairs ? &args : NULL)) != CUDA_SUCCESS)
			return fail(&d, "restore", (int)pid, r);
	} else {
		CUcheckpointUnlockArgs args;
		memset(&args, 0, sizeof args);
		if ((r = d.unlock((int)pid, &args)) != CUDA_SUCCESS)
			return fail(&d, "unlock", (int)pid, r);
	}
	return EXIT_OK;
}
