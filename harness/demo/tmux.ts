/**
 * `ftkit demo --tmux`: the course's one-console-per-process layout. Every component runs
 * in its own tmux pane (tiled); the session is killed when the demo ends, so nothing
 * it started survives it.
 */
import { spawnSync } from 'node:child_process';
import { FTKIT_BIN } from '../launch/proc.js';
import { demoMessage, type DemoOptions } from './demo.js';
import { ensureSecret } from '../../lib/config/secrets.js';

function quote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The command line of every process, in start order. */
export function paneCommands(o: DemoOptions): Array<{ name: string; argv: string[] }> {
  const base = o.basePort;
  const hb = String(o.heartbeatFreq);
  const secret = o.secretFile ? ['--secret-file', o.secretFile] : [];
  const tlsServe = o.tls ? ['--tls-cert', o.tls.cert, '--tls-key', o.tls.key, '--tls-ca', o.tls.ca] : [];
  const tlsDial = o.tls ? ['--tls-ca', o.tls.ca] : [];
  const out: Array<{ name: string; argv: string[] }> = [
    { name: 'RM', argv: ['rm', '--port', String(base), '--mode', o.mode, ...secret, ...tlsServe] },
    { name: 'GFD', argv: ['gfd', '--port', String(base + 1), '--rm', `127.0.0.1:${base}`, '--heartbeat-freq', hb, ...secret, ...tlsServe] },
  ];
  for (const i of [1, 2, 3]) out.push({ name: `LFD${i}`, argv: ['lfd', `LFD${i}`, '--port', String(base + 100 + i), '--gfd', `127.0.0.1:${base + 1}`, '--heartbeat-freq', hb, ...secret, ...tlsServe] });
  for (const i of [1, 2, 3]) {
    out.push({
      name: `S${i}`,
      argv: ['server', `S${i}`, '--port', String(base + 200 + i), '--lfd', `127.0.0.1:${base + 100 + i}`, '--app', o.app, '--checkpoint-freq', String(o.checkpointFreq), ...secret, ...tlsServe],
    });
  }
  for (const i of [1, 2, 3]) out.push({ name: `C${i}`, argv: ['client', `C${i}`, '--rm', `127.0.0.1:${base}`, '--message', demoMessage(o.app, `C${i}`), '--give-up', '3600', ...tlsDial] });
  return out;
}

/** Run the demo in tmux. Resolves with the exit status. */
export async function runTmux(o: DemoOptions, say: (text: string) => void): Promise<number> {
  if (spawnSync('tmux', ['-V']).status !== 0) {
    say('tmux is not installed (on Debian: apt-get install tmux); run the demo without --tmux');
    return 2;
  }
  if (o.secretFile) ensureSecret(o.secretFile);
  const session = `ftkit-${process.pid}`;
  const tmux = (...args: string[]) => spawnSync('tmux', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const line = (argv: string[], name: string) => `printf '\\033]2;${name}\\033\\\\'; ${quote(process.execPath)} ${quote(FTKIT_BIN)} ${argv.map(quote).join(' ')}`;
  const panes = paneCommands(o);
  tmux('new-session', '-d', '-s', session, '-x', '240', '-y', '70', line(panes[0]!.argv, panes[0]!.name));
  tmux('set-option', '-t', session, 'remain-on-exit', 'on');
  tmux('set-option', '-t', session, 'pane-border-status', 'top');
  for (const p of panes.slice(1)) {
    tmux('split-window', '-t', session, line(p.argv, p.name));
    tmux('select-layout', '-t', session, 'tiled');
  }
  const stop = () => tmux('kill-session', '-t', session);
  if (process.stdout.isTTY) {
    spawnSync('tmux', ['attach', '-t', session], { stdio: 'inherit' });
    stop();
    return 0;
  }
  say(`tmux session ${session} is running ${panes.length} panes; attach with: tmux attach -t ${session}`);
  say('stop with Ctrl-C or SIGTERM (the session is killed with the demo)');
  await new Promise<void>((resolve) => {
    // Signal listeners alone do not keep Node running: hold the process open until one comes.
    const keepAlive = setInterval(() => {}, 60_000);
    const done = () => {
      clearInterval(keepAlive);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    process.once('SIGHUP', done);
  });
  stop();
  return 0;
}
