/** What each subcommand runs. Components arrive issue by issue. */
type Runner = (opts: Record<string, unknown>, args: string[]) => Promise<void>;

const pending = (what: string): Runner => async () => {
  process.stderr.write(`ftkit ${what}: not available yet in this version\n`);
  process.exit(2);
};

export const runners: Record<'rm' | 'gfd' | 'lfd' | 'server' | 'client' | 'demo' | 'ctl', Runner> = {
  rm: pending('rm'),
  gfd: pending('gfd'),
  lfd: pending('lfd'),
  server: pending('server'),
  client: pending('client'),
  demo: pending('demo'),
  ctl: pending('ctl'),
};
