/** `ftkit secret <file>`: write a new deployment secret, readable only by its owner. */
import { createSecret } from '../lib/config/secrets.js';
import { exitWith, type Runner } from './process.js';

export const secret: Runner = async (_o, [file]) => {
  try {
    createSecret(file!);
  } catch (err) {
    exitWith(1, 'secret', (err as Error).message);
  }
  process.stdout.write(`wrote a new secret to ${file} (readable only by you); give every component  --secret-file ${file}  and copy the file to each machine\n`);
};
