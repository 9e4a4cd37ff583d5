/** The LFD's command lines: per user, per system (GFD address and LFD name), never adopted across systems. */
import t from 'tap';
import { readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandStore, DEFAULT_COMMANDS_MAX_AGE_MS, commandsFileName, defaultStateDir, formatCommandsFile, parseCommandsFile } from '../../lfd/commands.js';

const A = { gfd: '127.0.0.1:7001', lfd: 'LFD1' };
const B = { gfd: '127.0.0.1:9001', lfd: 'LFD1' };
const CMD = ['/usr/bin/node', 'ftkit.js', 'server', 'S1', '--port', '7201'];

t.test('defaultStateDir: XDG_STATE_HOME, else ~/.local/state, else a per-uid temp folder', async (t) => {
  t.equal(defaultStateDir({ XDG_STATE_HOME: '/x/state' }, '/home/u', '/tmp', 1000), '/x/state/ftkit');
  t.equal(defaultStateDir({ XDG_STATE_HOME: 'relative' }, '/home/u', '/tmp', 1000), '/home/u/.local/state/ftkit', 'a relative XDG_STATE_HOME is ignored');
  t.equal(defaultStateDir({}, '/home/u', '/tmp', 1000), '/home/u/.local/state/ftkit');
  t.equal(defaultStateDir({}, undefined, '/tmp', 1000), '/tmp/ftkit-1000');
  t.equal(defaultStateDir({}, '/', '/tmp', 0), '/tmp/ftkit-0');
});

t.test('commandsFileName names the system', async (t) => {
  t.equal(commandsFileName(A), 'lfd-LFD1@127.0.0.1_7001.json');
  t.equal(commandsFileName({ gfd: '::1:7001', lfd: 'LFD2' }), 'lfd-LFD2@__1_7001.json');
});

t.test('parseCommandsFile keeps only this system, fresh, well-formed entries', async (t) => {
  const now = 1_000_000_000;
  const text = formatCommandsFile(A, new Map([['S1', { command: CMD, savedAt: now - 1000 }], ['S2', { command: CMD, savedAt: now - DEFAULT_COMMANDS_MAX_AGE_MS - 1 }]]));
  t.same([...parseCommandsFile(text, A, now).keys()], ['S1'], 'the stale S2 is dropped');
  t.same([...parseCommandsFile(text, B, now).keys()], [], 'another GFD: nothing');
  t.same([...parseCommandsFile(text, { ...A, lfd: 'LFD2' }, now).keys()], [], 'another LFD: nothing');
  for (const bad of ['', 'nonsense', 'null', '[]', '{"S1":["node"]}', JSON.stringify({ version: 2, gfd: A.gfd, lfd: 'LFD1', commands: { S1: { command: [1], savedAt: now } } })]) {
    t.same([...parseCommandsFile(bad, A, now).keys()], [], `ignored: ${bad.slice(0, 40)}`);
  }
});

t.test('CommandStore: learned commands are saved and reloaded by the same system only', async (t) => {
  const dir = t.testdir({});
  const a = new CommandStore(dir, A);
  t.same(a.load(), []);
  t.equal(a.learn('S1', CMD), true);
  t.equal(a.learn('S1', CMD), false, 'the same again is not saved again');
  t.same(a.get('S1'), CMD);
  t.same(a.template(), CMD);
  t.same(readdirSync(dir), [commandsFileName(A)]);

  const again = new CommandStore(dir, A);
  t.same(again.load(), ['S1'], 'a restarted LFD of the same system can relaunch S1');
  t.same(again.get('S1'), CMD);
  t.equal(again.template(), undefined, 'but does not use it as a template for another server');

  const other = new CommandStore(dir, B);
  t.same(other.load(), [], 'an LFD of another system adopts nothing');
  t.equal(other.get('S1'), undefined);
});

t.test('CommandStore deletes stale files and never reads the old shared format', async (t) => {
  const dir = t.testdir({});
  const stale = join(dir, 'lfd-LFD9@127.0.0.1_1.json');
  writeFileSync(stale, '{}');
  const old = Date.now() / 1000 - DEFAULT_COMMANDS_MAX_AGE_MS / 1000 - 60;
  utimesSync(stale, old, old);
  writeFileSync(join(dir, commandsFileName(A)), JSON.stringify({ S1: CMD }));
  writeFileSync(join(dir, 'unrelated.txt'), 'keep');
  const s = new CommandStore(dir, A);
  t.same(s.load(), [], 'a file in the old format is not loaded');
  t.same(readdirSync(dir).sort(), [commandsFileName(A), 'unrelated.txt'], 'the stale file is gone, others stay');
  s.learn('S2', CMD);
  t.match(JSON.parse(readFileSync(join(dir, commandsFileName(A)), 'utf8')), { version: 2, gfd: A.gfd, lfd: 'LFD1', commands: { S2: { command: CMD } } });
});

t.test('CommandStore without a folder keeps commands in memory', async (t) => {
  const s = new CommandStore(undefined, A);
  t.same(s.load(), []);
  s.learn('S1', CMD);
  t.same(s.get('S1'), CMD);
  t.equal(s.file, undefined);
});
