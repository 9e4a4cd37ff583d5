/** `ftkit chat <user>`: the chat rooms' interactive client (clients/chat.ts) on this terminal. */
import { createInterface } from 'node:readline';
import { ChatClient } from '../clients/chat.js';
import { Tracer } from '../lib/trace/index.js';
import { securityFor, type Runner } from './process.js';

export const chat: Runner = async (o, [user]) => {
  // The screen is the user's: the session's traces are left out.
  const tracer = new Tracer(`chat.${user}`);
  const out = (s: string) => process.stdout.write(s);
  const client = new ChatClient({ user: user!, rm: o.rm as string, security: securityFor('chat', o, { listens: false, dials: true }, tracer), io: { print: (line) => out(`${line}\n`), write: out }, tracer });
  if (!(await client.login())) {
    await client.stop();
    process.exit(1);
  }
  const input = createInterface({ input: process.stdin, terminal: false });
  let lines = Promise.resolve();
  input.on('line', (line) => (lines = lines.then(() => client.line(line))));
  input.on('close', () => void lines.then(() => client.stop()).then(() => process.exit(0)));
};
