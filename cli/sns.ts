/** `ftkit sns -u <id>`: the social network's interactive client (clients/sns.ts) on this terminal. */
import { SnsClient } from '../clients/sns.js';
import { Tracer } from '../lib/trace/index.js';
import { runLines, securityFor, type Runner } from './process.js';

export const sns: Runner = async (o) => {
  const user = o.user as string | undefined;
  if (!user) {
    process.stderr.write('error: name your user: ftkit sns -u <id>\n');
    process.exit(2);
  }
  // The screen is the user's: the session's traces are left out.
  const tracer = new Tracer(`U${user}`);
  const out = (s: string) => process.stdout.write(s);
  const client = new SnsClient({ user, rm: o.rm as string, security: securityFor('sns', o, { listens: false, dials: true }, tracer), io: { print: (line) => out(`${line}\n`), prompt: out }, tracer });
  await runLines(client);
};
