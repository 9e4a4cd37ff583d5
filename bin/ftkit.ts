#!/usr/bin/env node
/** The `ftkit` command: one subcommand per component, plus demo and ctl. */
import { CommanderError } from 'commander';
import { buildProgram } from '../cli/program.js';

const program = buildProgram();
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // help and version exit 0; every usage error exits 2 after commander printed its one line
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  process.stderr.write(`ftkit: ${(err as Error).message}\n`);
  process.exit(2);
}
