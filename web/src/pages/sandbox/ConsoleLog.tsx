import { LogView } from '../../components/LogView.js';
import { routeUrl } from '../../lib/api.js';
import { useFollowLog } from '../../lib/follow-log.js';

/** The console (the main process's output), live. */
export function ConsoleLog({ name }: { name: string }) {
  const log = useFollowLog((offset, follow) => routeUrl('logs', { name }, { offset, follow: follow || undefined }), true, name);
  return <LogView log={log} label="Console log" />;
}
