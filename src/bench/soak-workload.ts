import type { ApiClient } from '../api/index.js';

/**
 * The soak's workload. A server holds 256 MiB of random bytes and a counter
 * and answers on TCP 7000 (inc, get, sum: the bytes' sha256). A client in
 * another sandbox holds ONE TCP connection to it for the whole run and relays
 * requests from a unix socket over it, so an answer through the client proves
 * that very connection is still open.
 */
const SERVER = `
import hashlib, os, socket, sys, threading
data = os.urandom(int(sys.argv[1]) << 20)
counter = 0
lock = threading.Lock()
def serve(conn):
    global counter
    f = conn.makefile('rw')
    for line in f:
        cmd = line.strip()
        with lock:
            if cmd == 'inc':
                counter += 1
                out = str(counter)
            elif cmd == 'get':
                out = str(counter)
            elif cmd == 'sum':
                out = hashlib.sha256(data).hexdigest()
            else:
                out = 'unknown'
        f.write(out + '\\n')
        f.flush()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 7000))
s.listen(16)
open('/root/expected-sum', 'w').write(hashlib.sha256(data).hexdigest())
open('/root/server-ready', 'w').close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

const CLIENT = `
import os, socket, sys
up = socket.create_connection((sys.argv[1], 7000))
uf = up.makefile('rw')
port = up.getsockname()[1]
if os.path.exists('/root/ctl.sock'):
    os.unlink('/root/ctl.sock')
ctl = socket.socket(socket.AF_UNIX)
ctl.bind('/root/ctl.sock')
ctl.listen(4)
open('/root/client-ready', 'w').close()
while True:
    c, _ = ctl.accept()
    f = c.makefile('rw')
    cmd = f.readline().strip()
    try:
        uf.write(cmd + '\\n')
        uf.flush()
        r = uf.readline().strip() or 'broken:closed'
    except Exception as e:
        r = 'broken:' + type(e).__name__
    f.write('%s %d\\n' % (r, port))
    f.flush()
    c.close()
`;

/** Asks over a unix socket (the client's relay) or TCP (a branch's own server). */
const ASK_UNIX = `import socket,sys;s=socket.socket(socket.AF_UNIX);s.connect('/root/ctl.sock');s.sendall(sys.argv[1].encode()+b'\\n');print(s.makefile().readline().strip())`;
const ASK_TCP = `import socket,sys;s=socket.create_connection(('127.0.0.1',7000));s.sendall(sys.argv[1].encode()+b'\\n');print(s.makefile().readline().strip())`;

async function sh(api: ApiClient, name: string, command: string[], stdin?: string): Promise<string> {
  const r = await api.call('exec', { params: { name }, body: { command, timeoutMs: 120_000, ...(stdin === undefined ? {} : { stdin }) } });
  if (r.exitCode !== 0) throw new Error(`${command.join(' ')} in ${name}: exit ${r.exitCode}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** Starts a detached python script and waits until it says it is ready. */
async function launch(api: ApiClient, name: string, file: string, script: string, args: string[], ready: string): Promise<void> {
  await sh(api, name, ['sh', '-c', `cat > ${file}`], script);
  await sh(api, name, [
    'sh',
    '-c',
    `nohup python3 ${file} ${args.join(' ')} >/root/${name}.log 2>&1 & for i in $(seq 1200); do test -e ${ready} && exit 0; sleep 0.1; done; cat /root/${name}.log; exit 1`,
  ]);
}

export interface Workload {
  expectedSum: string;
  /** The client's local port: the same port means the same connection. */
  clientPort: string;
}

export async function startWorkload(api: ApiClient, server: string, client: string, mib: number): Promise<Workload> {
  await launch(api, server, '/root/server.py', SERVER, [String(mib)], '/root/server-ready');
  const address = (await api.call('getSandbox', { params: { name: server } })).address!;
  await launch(api, client, '/root/client.py', CLIENT, [address], '/root/client-ready');
  const expectedSum = await sh(api, server, ['cat', '/root/expected-sum']);
  const [, clientPort] = (await askThroughClient(api, client, 'get')).split(' ');
  return { expectedSum, clientPort: clientPort! };
}

/** Through the client's held connection: "<answer> <client port>". */
export const askThroughClient = (api: ApiClient, client: string, cmd: string) => sh(api, client, ['python3', '-c', ASK_UNIX, cmd]);

/** A sandbox's own server, over loopback (a branch has no connection from the client). */
export const askDirect = (api: ApiClient, name: string, cmd: string) => sh(api, name, ['python3', '-c', ASK_TCP, cmd]);
