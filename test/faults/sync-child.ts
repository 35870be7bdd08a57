/**
 * One sync in a process of its own, with a fault injected at one write point of the control-plane
 * apply, for tests that need a real crash or a real pause (not a thrown error):
 *
 *   node test/faults/sync-child.ts CONFIG_FILE [CLUSTER,CLUSTER...]
 *   CREDSYNC_FAULT=<kill|stop>:<before|during|after>:<method>:<n>
 *
 * <method> is a ControlPlaneApi method (replaceConfigMap), or `dataPlane.<id>.<method>` for one
 * data plane's DataPlaneApi (dataPlane.dp2.getSecret). At the n-th call (1-based) of that method, before it is sent, once it is sent
 * but before its answer is read (`during`), or after it answered, the process
 * writes `FAULT <spec>` on stderr (for `during`, after `FAULT-ANSWERED ...` when the call was
 * answered before the stop: the point was missed) and then SIGKILLs itself (a crash: no finally, no release) or
 * SIGSTOPs itself (a pause of the whole process, timers included, until the parent sends SIGCONT).
 * Prints the JSON report on stdout; exit 0 when the sync succeeded, 1 otherwise.
 * With CREDSYNC_CHILD_DELETED=<cluster name>, it runs the cluster-deleted use case for that GKE
 * cluster instead of a plain sync (lib/runtime/clusterDeleted.ts; same faults, same report).
 * Test code only: the product has no fault hooks.
 */
import { loadConfig } from '../../lib/config/load.ts';
import { buildDeps } from '../../lib/runtime/wiring.ts';
import { runSync } from '../../lib/sync/sync.ts';
import { lineLog } from '../../lib/util/log.ts';

const [action, when, method, nth] = (process.env['CREDSYNC_FAULT'] ?? '').split(':');
const at = Number(nth ?? 1);

function fault(spec: string): void {
  process.stderr.write(`FAULT ${spec}\n`);
  process.kill(process.pid, action === 'stop' ? 'SIGSTOP' : 'SIGKILL');
}

function withFault<T extends object>(api: T, method: string | undefined): T {
  if (!method) return api;
  let calls = 0;
  return new Proxy(api, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop !== method || typeof v !== 'function') return typeof v === 'function' ? v.bind(target) : v;
      return async (...args: unknown[]) => {
        const n = ++calls;
        if (n === at && when === 'before') fault(process.env['CREDSYNC_FAULT']!);
        if (n === at && when === 'during') {
          // Sent, not yet answered: the HTTP/2 frames go out on the event loop's next turns
          // (setImmediate), the answer needs a round trip to the server (milliseconds).
          const sent = v.apply(target, args) as Promise<unknown>;
          let answered = false;
          sent.then(() => (answered = true), () => (answered = true));
          for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
          // On a loaded machine the answer may come in within those turns: then the point was
          // missed (nothing is in flight), and the parent is told so.
          if (answered) process.stderr.write('FAULT-ANSWERED the call was answered before the stop\n');
          fault(process.env['CREDSYNC_FAULT']!);
          return await sent;
        }
        const result = await v.apply(target, args);
        if (n === at && when === 'after') fault(process.env['CREDSYNC_FAULT']!);
        return result;
      };
    },
  });
}

const cfg = await loadConfig(process.argv[2]);
const deps = buildDeps(cfg, lineLog({ verbose: true }));
const [scope, dpId, dpMethod] = (method ?? '').split('.');
const realControlPlane = deps.controlPlane;
const realDataPlane = deps.dataPlane;
if (scope === 'dataPlane') deps.dataPlane = async (dp) => withFault(await realDataPlane(dp), dp.id === dpId ? dpMethod : undefined);
else deps.controlPlane = async () => withFault(await realControlPlane(), method);
const clusters = process.argv[3] ? process.argv[3].split(',') : undefined;
const deleted = process.env['CREDSYNC_CHILD_DELETED'];
if (deleted) {
  const { drainDeletedCluster } = await import('../../lib/runtime/clusterDeleted.ts');
  const result = await drainDeletedCluster({ cloud: 'gke', project: 'p', location: 'l', clusterName: deleted }, { log: deps.log, prepare: async () => ({ config: cfg, deps }) }).catch((err: Error) => {
    process.stderr.write(`${err.name}: ${err.message}\n`);
    process.exit(1);
  });
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
}
const report = await runSync(deps, clusters ? { clusters } : {});
process.stdout.write(JSON.stringify(report) + '\n');
process.exit(report.ok ? 0 : 1);
