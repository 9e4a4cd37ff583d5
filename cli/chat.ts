/** `ftkit chat <user>`: the chat rooms' interactive client (clients/chat.ts) on this terminal. */
import { ChatClient } from '../clients/chat.js';
import { Tracer } from '../lib/trace/index.js';
import { runLines, securityFor, type Runner } from './process.js';

export const chat: Runner = async (o, [user]) => {
  // The screen is the user's: the session's traces are left out.
  const tracer = new Tracer(`chat.${user}`);
  const out = (s: string) => process.stdout.write(s);
  const client = new ChatClient({ user: user!, rm: o.rm as string, security: securityFor('chat', o, { listens: false, dials: true }, tracer), io: { print: (line) => out(`${line}\n`), write: out }, tracer });
  await runLines(client);
};
