import { ApiClient } from '../../api/index.js';
export declare const BIN: string;
/**
 * The daemon as its own process, as users run it: the benchmark's client and
 * the daemon then do not share one event loop, and it can be killed and
 * started again on the same data dir, as a service manager would.
 */
export interface DaemonProcess {
    api: ApiClient;
    url: string;
    /** The admin's API key, for CLI processes run against it. */
    token: string;
    dataDir: string;
    /** The image store it runs from (the test images, built once). */
    imagesDir: string;
    bridge: string;
    /** The daemon's PID now (it changes at each restart). */
    pid(): number;
    /** SIGKILL: no clean-up of any kind, as a crash or the OOM killer. */
    kill9(): Promise<void>;
    /** Starts it again on the same data dir, port and bridge; resolves when it answers. */
    restart(): Promise<void>;
    stop(): Promise<void>;
}
export interface DaemonProcessOptions {
    /** More environment for the daemon (BOTHUB_IDLE_WARM...). */
    env?: Record<string, string>;
    /** Where its stderr and stdout go (appended); default: this process's. */
    logFile?: string;
    /** Arguments for the daemon's node, e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile it under the benchmark. */
    nodeArgs?: string[];
    /** Its port (default: one derived from this process's PID; several daemons of one process need their own). */
    port?: number;
    /** A data dir made beforehand (a master key shared with other daemons in it); default a new temporary one. */
    dataDir?: string;
}
/** The environment a CLI process needs to talk to this daemon as its admin. */
export declare const cliEnv: (t: DaemonProcess) => NodeJS.ProcessEnv;
export declare function startDaemonProcess(opts?: DaemonProcessOptions): Promise<DaemonProcess>;
