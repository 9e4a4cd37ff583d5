/**
 * `ftkit demo --milestone 5 --duration D`: the full system with automatic recovery; the script
 * kills the primary, the RM elects another and has the dead one relaunched, which becomes ready.
 * Exit 0, nothing left running. (`--scenario m5`, the full script, is demo.test.ts's.)
 */
import t from 'tap';
import { demoEnv, runCli } from '../helpers/cli.js';
import { after, indexOf, nothingLeft, of, parseDemo } from '../helpers/milestones.js';
import { claimPorts } from '../helpers/ports.js';

const { env } = demoEnv(t);

t.test('milestone 5: kill -9 the primary; the RM elects another and relaunches the dead one', async (t) => {
  const port = await claimPorts(); // the demo's layout, this test's alone and free now
  const { code, out } = await runCli(t, ['demo', '--milestone', '5', '--duration', '12', '--no-color', '--base-port', String(port), '--checkpoint-freq', '1'], 90_000, env);
  const lines = parseDemo(out);
  t.equal(code, 0, `exit 0; output ends:\n${out.split('\n').slice(-12).join('\n')}`);
  t.equal(of(lines, 'demo', /^RM: ftkit rm --port \d+ --mode passive$/).length, 1, 'the RM relaunches (no --no-auto-restart)');
  const first = lines.find((l) => l.name === 'RM' && /\] RM: .*S\d is primary \(epoch 1\)/.test(l.text));
  const primary = /(S\d) is primary/.exec(first?.text ?? '')?.[1];
  t.ok(primary, `the RM chose a primary: ${first?.text}`);
  t.ok(of(lines, 'demo', new RegExp(`^kill -9 ${primary} \\(pid \\d+\\)$`)).length === 1, `the script kills the primary ${primary}`);
  const killed = after(lines, /^kill -9 S\d \(pid \d+\)$/);
  const elected = indexOf(killed, 'RM', new RegExp(`\\] RM: primary ${primary} failed; (?!${primary})S\\d is primary \\(epoch 2\\)`));
  t.ok(elected >= 0, `the RM elects another primary: ${killed[elected]?.text}`);
  const asks = indexOf(killed, 'RM', new RegExp(`\\] RM: asking LFD\\d to launch ${primary}$`));
  const launched = indexOf(killed, 'LFD' + primary!.slice(1), new RegExp(`\\] LFD\\d: launched ${primary} \\(pid \\d+\\)$`));
  t.ok(asks >= 0 && launched > asks, `the RM has LFD${primary!.slice(1)} relaunch ${primary}`);
  const ready = indexOf(killed, 'RM', new RegExp(`\\] RM: ${primary} caught up \\(checkpoint \\d+\\): ready$`), launched);
  t.ok(ready > launched, `the relaunched ${primary} becomes ready`);
  t.same(of(lines, 'demo', /starting S\d again by hand/), [], 'nobody relaunches by hand');
  nothingLeft(t, port);
});
