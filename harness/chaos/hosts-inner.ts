/**
 * The process that runs one chaos run inside m4, the machine of the RM, the GFD and the clients
 * (started by onhosts.ts as `ip netns exec <m4> node hosts-inner.js <spec as JSON>`; not a
 * command for people). It attaches to the network its parent made, runs the run with every
 * component on its machine, and writes the compacted report to the run's folder. It exits when
 * its parent's pipe on its stdin closes (the parent is gone), and on SIGTERM or SIGINT: its
 * components watch a pipe from it and stop with it, and the parent removes the namespaces.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Hosts } from '../launch/hosts.js';
import { COURSE_MACHINES } from '../launch/hosts-system.js';
import { runChaos } from './runner.js';
import { compactReport } from './report.js';
import { REPORT_FILE, type InnerSpec } from './onhosts.js';

async function main(): Promise<number> {
  const spec = JSON.parse(process.argv[2] ?? '') as InnerSpec;
  const net = Hosts.attach(spec.prefix, { hosts: { ...COURSE_MACHINES } });
  try {
    const report = await runChaos({
      ...spec.options,
      hosts: { net, dir: spec.dir },
      log: spec.progress ? (line) => process.stdout.write(line + '\n') : undefined,
    });
    writeFileSync(join(spec.dir, REPORT_FILE), JSON.stringify(compactReport(report)));
    return 0;
  } finally {
    await net.destroy();
  }
}

const bye = (code: number) => () => process.exit(code);
process.stdin.on('end', bye(3)).on('close', bye(3)).resume();
process.once('SIGTERM', bye(143));
process.once('SIGINT', bye(130));
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`chaos run on hosts: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  },
);
