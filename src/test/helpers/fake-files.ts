import { posix } from 'node:path';
import type { FakeResult, FakeScript } from './fake-runtime.js';

/**
 * A fake sandbox's few files, answered as the commands the daemon's file
 * access runs inside a sandbox answer (find -printf, dd, tar, the write
 * script): /etc/hostname and the directories /, /etc and /tmp, and "No such
 * file or directory" for any other path. A file written is kept (in the
 * script's memory); a tar unpacked is checked for its shape and forgotten.
 */
const MTIME = '1764547200.0000000000';

interface Tree {
  files: Map<string, Buffer>;
  dirs: Set<string>;
}

const missing = (path: string): FakeResult => ({ stderr: `find: '${path}': No such file or directory\n`, exitCode: 1 });

/** find PATH -maxdepth 0 (a stat) or -mindepth 1 -maxdepth 1 (a listing), in find's -printf format. */
function find({ files, dirs }: Tree, argv: readonly string[]): FakeResult {
  const path = argv.find((a, i) => i > 0 && a.startsWith('/'))!;
  if (!files.has(path) && !dirs.has(path)) return missing(path);
  const line = (p: string, end: string) => (files.has(p) ? `f\t${files.get(p)!.length}\t644\t${MTIME}\t${end}` : `d\t4096\t755\t${MTIME}\t${end}`);
  if (!argv.includes('-mindepth')) return { stdout: line(path, '') };
  const prefix = path === '/' ? '/' : `${path}/`;
  const children = [...files.keys(), ...dirs].filter((p) => p !== path && p.startsWith(prefix) && !p.slice(prefix.length).includes('/'));
  return { stdout: children.map((p) => line(p, `${posix.basename(p)}\0`)).join('') };
}

/** dd if=PATH skip=N count=M: that slice of the file. */
function dd({ files }: Tree, argv: readonly string[]): FakeResult {
  const arg = (k: string) => argv.find((a) => a.startsWith(`${k}=`))?.slice(k.length + 1);
  const content = files.get(arg('if')!);
  if (!content) return missing(arg('if')!);
  const skip = Number(arg('skip') ?? 0);
  return { stdout: content.subarray(skip, skip + Number(arg('count') ?? content.length)) };
}

/** A tar stream is whole 512-byte blocks; anything else is refused as tar refuses it. */
const untar = (stdin: Buffer): FakeResult =>
  stdin.length && stdin.length % 512 === 0 ? {} : { stderr: 'tar: This does not look like a tar archive\n', exitCode: 2 };

/** A script with a tree of its own. */
export function fakeFiles(): FakeScript {
  const tree: Tree = { files: new Map([['/etc/hostname', Buffer.from('alice-box\n')]]), dirs: new Set(['/', '/etc', '/tmp']) };
  return ({ argv, stdin }) => {
    if (argv[0] === 'find') return find(tree, argv);
    if (argv[0] === 'dd') return dd(tree, argv);
    // tar -C PARENT -cf - -- BASE, after a stat found the path: an empty archive (its two zero blocks).
    if (argv[0] === 'tar') return { stdout: Buffer.alloc(1024) };
    if (argv[0] !== 'sh' || argv[1] !== '-c') return undefined;
    if (argv[2]!.includes('tar -C')) return untar(stdin);
    if (argv[2]!.includes('.bothub-tmp')) {
      tree.files.set(argv[3]!, stdin);
      for (let d = posix.dirname(argv[3]!); !tree.dirs.has(d); d = posix.dirname(d)) tree.dirs.add(d);
      return {};
    }
    return undefined;
  };
}
