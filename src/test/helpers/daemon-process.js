import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../api/index.js';
import { parseSubnet } from '../../core/index.js';
import { LocalHost } from '../../hostexec/index.js';
import { removeBridge } from '../../runtime/index.js';
import { TEST_IMAGES_DIR } from './daemon.js';
export const BIN = fileURLToPath(new URL('../../../bin/bothub', import.meta.url));
/** The environment a CLI process needs to talk to this daemon as its admin. */
export const cliEnv = (t) => ({ ...process.env, BOTHUB_URL: t.url, BOTHUB_TOKEN: t.token });
export async function startDaemonProcess(opts = {}) {
    const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'bothub-bench-')));
    const port = opts.port ?? 20000 + (process.pid % 20000);
    const bridge = `bhb${randomBytes(2).toString('hex')}`;
    const subnet = opts.env?.BOTHUB_SUBNET ?? `10.250.${process.pid % 250}.0/24`;
    const env = { ...process.env, BOTHUB_IMAGES_DIR: TEST_IMAGES_DIR, BOTHUB_BRIDGE: bridge, BOTHUB_SUBNET: subnet, BOTHUB_LOG_LEVEL: 'warn', ...opts.env };
    const probe = new ApiClient(`http://127.0.0.1:${port}`);
    let child;
    const spawnDaemon = async () => {
        const out = opts.logFile ? openSync(opts.logFile, 'a') : 'inherit';
        child = spawn(process.execPath, [...(opts.nodeArgs ?? []), BIN, 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], { env, stdio: ['ignore', out, out] });
        if (typeof out === 'number')
            closeSync(out);
        // Polled: the daemon says nothing on its own when it is ready.
        for (let i = 0;; i++) {
            if (await probe.call('health').then(() => true, () => false))
                return;
            if (i > 2400 || child.exitCode !== null)
                throw new Error(`the daemon did not start (exit code ${child.exitCode})`);
            await sleep(25);
        }
    };
    await spawnDaemon();
    const url = `http://127.0.0.1:${port}`;
    const token = (await readFile(join(dataDir, 'admin.key'), 'utf8')).trim();
    const api = new ApiClient(url, { token });
    const exited = () => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r())));
    return {
        api,
        url,
        token,
        dataDir,
        imagesDir: TEST_IMAGES_DIR,
        bridge,
        pid: () => child.pid,
        async kill9() {
            const gone = exited();
            child.kill('SIGKILL');
            await gone;
        },
        restart: spawnDaemon,
        async stop() {
            try {
                for (const s of await api.call('listSandboxes'))
                    await api.call('destroySandbox', { params: { name: s.name } });
                for (const s of await api.call('listSnapshots', { query: {} }))
                    await api.call('deleteSnapshot', { params: { name: s.name } });
            }
            finally {
                // A destroy that failed is the caller's to hear of; the daemon, its bridge and data dir go either way.
                const gone = exited();
                child.kill('SIGTERM');
                await gone;
                await removeBridge(new LocalHost(), { name: bridge, subnet: parseSubnet(subnet) });
                await rm(dataDir, { recursive: true, force: true });
            }
        },
    };
}
//# sourceMappingURL=daemon-process.js.map