import type { Command } from 'commander';
import type { ConsistencyReportT, SnapshotStoreStatsT } from '../../api/index.js';
import { inCliTerms } from '../error-hints.js';
import { bytes, printJson } from '../output/format.js';
import { action } from '../runner.js';

/** One line per problem, saying what to do; a summary line last. */
function printConsistency(r: ConsistencyReportT): void {
  const lines = r.problems.map((p) => `${p.host === 'local' ? '' : `${p.host}: `}${p.kind} ${p.subject}: ${p.detail} — ${inCliTerms(p.fix)}`);
  const restored = r.checked.restored ? `, ${r.checked.restored} restored as a throw-away branch` : '';
  const skipped = r.skipped.length ? ` (skipped, busy: ${r.skipped.join(', ')})` : '';
  lines.push(
    `${r.problems.length ? `${r.problems.length} problem(s)` : 'consistent'}: ${r.checked.sandboxes} sandbox(es), ${r.checked.snapshots} snapshot(s)${restored}, ${r.checked.hosts} host(s) checked${skipped}`,
  );
  process.stdout.write(lines.join('\n') + '\n');
}

/** The deduplicated snapshot store in one line: what it takes, and what deduplication saves. */
function storeLine(s: SnapshotStoreStatsT): string {
  const pct = s.logicalBytes ? Math.round((100 * s.savedBytes) / s.logicalBytes) : 0;
  const where = s.location ? `${s.location}${s.reachable === false ? ` UNREACHABLE (${s.detail ?? 'no answer'})` : ''}; ` : '';
  const cache = s.cacheLimitBytes !== undefined ? `; local cache ${bytes(s.cacheBytes ?? 0)} of ${bytes(s.cacheLimitBytes)}` : '';
  return `${where}${bytes(s.storedBytes)} in ${s.chunks} chunks for ${bytes(s.logicalBytes)} of snapshots: ${bytes(s.savedBytes)} saved by deduplication (${pct}%)${cache}`;
}

export function register(program: Command): void {
  program
    .command('doctor')
    .description('what this host can do: kernel, runc, CRIU, capabilities, and what that means for snapshots')
    .option('--consistency', 'compare the records with what each host really runs and holds; one line per problem, non-zero exit if any (admin)')
    .option('--deep', 'with --consistency: also restore every snapshot as a throw-away branch')
    .action(
      action(async (ctx, opts: { consistency?: boolean; deep?: boolean }) => {
        if (opts.consistency) {
          const r = await ctx.api.call('doctorConsistency', { query: opts.deep ? { deep: true } : {} });
          if (ctx.json) printJson(r);
          else printConsistency(r);
          return r.ok ? 0 : 1;
        }
        const d = await ctx.api.call('doctor');
        if (ctx.json) return printJson(d);
        const lines = [
          `kernel        ${d.kernel} (cgroup ${d.cgroup})`,
          `runc          ${d.runc.version}`,
          `criu          ${d.criu.version || 'missing'} at ${d.criu.path}; criu check: ${d.criu.check ? 'passes' : `FAILS: ${d.criu.output.split('\n').pop()}`}`,
          `capabilities  ${d.capabilities.join(' ')}`,
          `snapshots     ${d.snapshots.detail}`,
          ...(d.store ? [`store         ${storeLine(d.store)}`] : []),
        ];
        process.stdout.write(lines.join('\n') + '\n');
        return d.snapshots.available ? 0 : 1;
      }),
    );
}
