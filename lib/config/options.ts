/**
 * Every option of every component, declared once: the CLI builds its flags from
 * these specs and the .ini loader validates files against them, so a value is
 * checked the same way wherever it comes from. Precedence: default < file < flag.
 */
import * as v from './values.js';

export interface OptionSpec<T = unknown> {
  /** camelCase key, as in the options object and (any case style) in .ini files. */
  key: string;
  /** commander flag, e.g. `--heartbeat-freq <seconds>` */
  flag: string;
  description: string;
  default?: T;
  parse: v.Parser<T>;
  /** false: command line only (e.g. --config itself). */
  ini?: boolean;
  /** A file path: in an .ini file, relative to the file's folder. */
  path?: boolean;
  /**
   * The option may also be turned off, `--no-<name>` on the command line (`<name> = none` in an
   * .ini file; the parser then gives false): this describes that flag.
   */
  negation?: string;
}

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_RM_PORT = 7000;
export const DEFAULT_GFD_PORT = 7001;
export const DEFAULT_LFD_PORT = 7101;
export const DEFAULT_SERVER_PORT = 7201;
export const DEFAULT_HEARTBEAT_FREQ_S = 1;
export const DEFAULT_CHECKPOINT_FREQ_S = 5;
export const DEFAULT_MODE = 'active';
export const DEFAULT_APP = 'status';
export const DEFAULT_CLIENT_MESSAGE = 'hello_world_{n}';
export const DEFAULT_CLIENT_INTERVAL_S = 1;
export const DEFAULT_REQUEST_TIMEOUT_S = 2;
export const DEFAULT_GIVE_UP_S = 30;
export const DEFAULT_RESTART_BUDGET = 5;
export const DEFAULT_RESTART_WINDOW_S = 60;
export const DEFAULT_PASSIVE_STYLE = 'log';

const spec = <T>(s: OptionSpec<T>): OptionSpec => s as OptionSpec;

export const hostOption = (what: string) =>
  spec({ key: 'host', flag: '--host <host>', description: `address ${what} listens on`, default: DEFAULT_HOST, parse: v.host });
/** The wildcard addresses: listening on every interface says nothing about which one peers should use. */
export const WILDCARD_HOSTS: ReadonlySet<string> = new Set(['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0']);
export const advertiseOption = (what: string) =>
  spec({
    key: 'advertise',
    flag: '--advertise <host>',
    description: `address ${what} tells its peers to use (default: --host; required when --host is 0.0.0.0 or ::)`,
    parse: v.host,
  });
export const portOption = (def: number) =>
  spec({ key: 'port', flag: '--port <port>', description: 'TCP port to listen on (0: any free port)', default: def, parse: v.port });

/** The .ini section a component reads, when it is not its own name (a replica started like another: `ftkit server S4 --config f.ini --section S1`). */
export const SECTION_OPTION = spec({
  key: 'section',
  flag: '--section <name>',
  description: "the --config file's section to read (default: the component's name)",
  parse: v.name,
  ini: false,
});

export const COMMON_OPTIONS: OptionSpec[] = [
  spec({ key: 'config', flag: '--config <file>', description: 'read options from this .ini file (flags override it)', parse: v.text, ini: false }),
  spec({ key: 'json', flag: '--json', description: 'print one JSON trace event per line', default: false, parse: v.bool }),
  spec({
    key: 'quiet',
    flag: '--quiet',
    description: 'do not print the per-request lines (requests, states, replies, duplicates); everything else still prints',
    default: false,
    parse: v.bool,
  }),
  spec({
    key: 'quietHeartbeats',
    flag: '--quiet-heartbeats',
    description: 'do not print a line per heartbeat (a failed or late heartbeat still prints, in red)',
    default: false,
    parse: v.bool,
  }),
  spec({
    key: 'metrics',
    flag: '--no-metrics',
    description: "do not measure link latency, CPU and memory, nor report them to the RM (docs/OBSERVABILITY.md)",
    default: true,
    parse: v.bool,
  }),
];

const file = (key: string, flag: string, description: string) => spec({ key, flag: `--${flag} <file>`, description, parse: v.text, path: true });
const secretFile = file('secretFile', 'secret-file', 'the deployment secret: every link between components proves it (README, Security)');
const adminSecretFile = file('adminSecretFile', 'admin-secret-file', 'a separate secret for administration (ftkit ctl); without it the deployment secret administers');
const clientSecretFile = file('clientSecretFile', 'client-secret-file', 'a secret clients must prove (without it, clients need no secret)');
const tlsCert = file('tlsCert', 'tls-cert', 'TLS: this component\'s certificate (PEM, signed by --tls-ca)');
const tlsKey = file('tlsKey', 'tls-key', 'TLS: the key of --tls-cert (PEM)');
const tlsCa = file('tlsCa', 'tls-ca', 'TLS: the CA certificate that signed every component\'s certificate (PEM)');

/** Secrets and TLS, for every component: one file describes a deployment, so every component takes them all. */
export const SECURITY_OPTIONS: OptionSpec[] = [secretFile, adminSecretFile, clientSecretFile, tlsCert, tlsKey, tlsCa];
/** Keys an .ini file may give at its top level, for every section (a deployment-wide setting). */
export const SHARED_KEYS: ReadonlySet<string> = new Set(SECURITY_OPTIONS.map((s) => s.key));

const heartbeatFreq = (who: string) =>
  spec({ key: 'heartbeatFreq', flag: '--heartbeat-freq <seconds>', description: `seconds between ${who} heartbeats`, default: DEFAULT_HEARTBEAT_FREQ_S, parse: v.seconds });
const heartbeatTimeout = (who: string) =>
  spec({ key: 'timeout', flag: '--timeout <seconds>', description: `seconds to wait for a heartbeat answer from ${who} (default: 2 × heartbeat-freq)`, parse: v.seconds });

/** The RM's fail-slow warm-up, also given by the demo to its RM. */
const slowWarmup = spec({ key: 'slowWarmup', flag: '--slow-warmup <seconds>', description: "how long each replica's signals are only learnt from (its baseline) before it can be flagged fail-slow", default: 10, parse: v.seconds });

export const RM_OPTIONS: OptionSpec[] = [
  hostOption('the RM'),
  portOption(DEFAULT_RM_PORT),
  spec({ key: 'mode', flag: '--mode <mode>', description: 'replication style: active or passive', default: DEFAULT_MODE, parse: v.oneOf('active', 'passive') }),
  spec({ key: 'primary', flag: '--primary <server>', description: 'passive mode: the replica to prefer as primary (default: first ready)', parse: v.name }),
  spec({ key: 'restartBudget', flag: '--restart-budget <n>', description: 'relaunches allowed per replica within --restart-window', default: DEFAULT_RESTART_BUDGET, parse: v.count }),
  spec({ key: 'restartWindow', flag: '--restart-window <seconds>', description: 'window of the restart budget', default: DEFAULT_RESTART_WINDOW_S, parse: v.seconds }),
  spec({ key: 'autoRestart', flag: '--no-auto-restart', description: 'do not relaunch replicas that die', default: true, parse: v.bool }),
  spec({ key: 'route', flag: '--route <rule>', description: "how clients' keys map to replica groups: mod (group ((key - 1) mod N) + 1), hash (stable: adding a group moves few keys) or least-loaded (fewest clients)", default: 'mod', parse: v.oneOf('mod', 'hash', 'least-loaded') }),
  spec({ key: 'groups', flag: '--groups <names>', description: 'the replica groups, e.g. g1,g2,g3: routing by key counts them from the start (an RM that learned them one by one from the GFD, after a restart, would route keys over only the groups met so far); a group not listed is still taken in when its first replica registers', parse: v.nameList }),
  spec({
    key: 'recoveryWait',
    flag: '--recovery-wait <seconds>',
    description: 'when no ready replica is left, how long to wait for one that holds everything acknowledged (the last ready one) to register again before continuing from the most recent state among the others; with durable replicas (--data-dir), as long as a relaunch takes, e.g. 5',
    parse: v.seconds,
  }),
  spec({ key: 'evictSlow', flag: '--evict-slow', description: 'treat a leader flagged fail-slow like a failed one: elect another and relaunch it (docs/OBSERVABILITY.md)', default: false, parse: v.bool }),
  spec({ key: 'slowFactor', flag: '--slow-factor <x>', description: "flag a replica fail-slow when its links' round trip is this many times its baseline (and its peers'), and at least 20 ms more", default: 3, parse: v.seconds }),
  spec({ key: 'slowFor', flag: '--slow-for <seconds>', description: 'for this long (and clear the flag after as long back under)', default: 3, parse: v.seconds }),
  slowWarmup,
  spec({ key: 'http', flag: '--http <port>', description: 'serve the web dashboard, /api/status, /api/events and Prometheus /metrics on this port, on --host (0: any free port)', parse: v.port }),
  spec({ key: 'fallback', flag: '--fallback', description: 'serve a key whose group has no ready replica from the first group that has one (and move it back when its group recovers)', default: false, parse: v.bool }),
  ...SECURITY_OPTIONS,
];

export const GFD_OPTIONS: OptionSpec[] = [
  hostOption('the GFD'),
  portOption(DEFAULT_GFD_PORT),
  spec({ key: 'rm', flag: '--rm <host:port>', description: 'the Replication Manager', default: `${DEFAULT_HOST}:${DEFAULT_RM_PORT}`, parse: v.addressOrNone, negation: 'run without an RM (milestone 2): keep the membership and print it, report to no one (rm = none in an .ini)' }),
  heartbeatFreq('GFD → LFD'),
  heartbeatTimeout('an LFD'),
  ...SECURITY_OPTIONS,
];

export const LFD_OPTIONS: OptionSpec[] = [
  hostOption('the LFD'),
  advertiseOption('the LFD'),
  portOption(DEFAULT_LFD_PORT),
  spec({ key: 'gfd', flag: '--gfd <host:port>', description: 'the Global Fault Detector', default: `${DEFAULT_HOST}:${DEFAULT_GFD_PORT}`, parse: v.addressOrNone, negation: 'run without a GFD (milestone 1): heartbeat the servers and print it, report to no one (gfd = none in an .ini)' }),
  heartbeatFreq('LFD → server'),
  heartbeatTimeout('a server'),
  spec({
    key: 'stateDir',
    flag: '--state-dir <dir>',
    description: "where the LFD keeps its servers' command lines for relaunching them (default: $XDG_STATE_HOME/ftkit, else ~/.local/state/ftkit)",
    parse: v.text,
  }),
  spec({
    key: 'replicaPorts',
    flag: '--replica-ports <first-last>',
    description: 'ports for the new replicas this LFD starts (ctl set replicas), e.g. 7210-7299, for machines whose firewall opens only those (default: any free port)',
    parse: v.portRange,
  }),
  spec({ key: 'fence', flag: '--no-fence', description: 'do not kill a server that stops answering before reporting it failed', default: true, parse: v.bool }),
  ...SECURITY_OPTIONS,
];

export const SERVER_OPTIONS: OptionSpec[] = [
  hostOption('the server'),
  advertiseOption('the server'),
  portOption(DEFAULT_SERVER_PORT),
  spec({ key: 'lfd', flag: '--lfd <host:port>', description: 'the LFD on this machine', default: `${DEFAULT_HOST}:${DEFAULT_LFD_PORT}`, parse: v.addressOrNone, negation: 'with --static only: run without an LFD (lfd = none in an .ini)' }),
  spec({
    key: 'static',
    flag: '--static',
    description: 'run without an RM (milestones 1-3): alone, or in the fixed --group; no failover, no relaunch (README, Running without an RM)',
    default: false,
    parse: v.bool,
  }),
  spec({
    key: 'group',
    flag: '--group <group>',
    description: 'the replica group this server joins, by name (default g1); or, without an RM, every replica of its fixed group, this one too, as S1=host:port,S2=host:port,… (implies --static)',
    parse: v.groupOrMembers,
  }),
  spec({ key: 'mode', flag: '--mode <mode>', description: 'without an RM: active or passive (required with a --group of more than one)', parse: v.oneOf('active', 'passive') }),
  spec({ key: 'primary', flag: '--primary <server>', description: 'without an RM: the primary (passive) or the sequencer that orders every request (active); default: the first in --group', parse: v.name }),
  spec({
    key: 'passive',
    flag: '--passive <style>',
    description: 'as passive primary: log (each request is logged at every backup before the reply) or checkpoint-only (reply at once; backups change only through checkpoints)',
    default: DEFAULT_PASSIVE_STYLE,
    parse: v.oneOf('log', 'checkpoint-only'),
  }),
  spec({ key: 'app', flag: '--app <app>', description: 'the replicated application: status, counter, log, sns (the social network: ftkit sns) or chat (chat rooms: ftkit chat)', default: DEFAULT_APP, parse: v.oneOf('status', 'counter', 'log', 'sns', 'chat') }),
  spec({ key: 'checkpointFreq', flag: '--checkpoint-freq <seconds>', description: 'seconds between checkpoints (passive primary)', default: DEFAULT_CHECKPOINT_FREQ_S, parse: v.seconds }),
  spec({
    key: 'lagTimeout',
    flag: '--lag-timeout <seconds>',
    description: "as leader, how long to wait for a ready follower's acknowledgement before the RM takes it out of the group (default: 4 × the LFD's heartbeat period)",
    parse: v.seconds,
  }),
  spec({
    key: 'dataDir',
    flag: '--data-dir <dir>',
    description: 'keep this replica on disk in <dir> (a log and snapshots): it acknowledges nothing before it is durable, and after a crash it starts from what the disk holds; without it, the state lives in memory only',
    parse: v.text,
  }),
  spec({
    key: 'fsync',
    flag: '--fsync <policy>',
    description: 'with --data-dir: always (fsync before acknowledging; one fsync per batch), everysec (fsync once a second: a power loss may lose up to a second of acknowledged requests) or no (leave it to the OS)',
    default: 'always',
    parse: v.oneOf('always', 'everysec', 'no'),
  }),
  ...SECURITY_OPTIONS,
];

export const CLIENT_OPTIONS: OptionSpec[] = [
  spec({ key: 'name', flag: '--name <name>', description: 'client name (usually the argument)', parse: v.name }),
  spec({ key: 'rm', flag: '--rm <host:port>', description: 'the Replication Manager', default: `${DEFAULT_HOST}:${DEFAULT_RM_PORT}`, parse: v.address }),
  spec({
    key: 'servers',
    flag: '--servers <members>',
    description: 'no RM: send to these replicas, S1=host:port[,S2=host:port,…], instead of asking the RM',
    parse: v.members,
  }),
  spec({ key: 'mode', flag: '--mode <mode>', description: 'with --servers: passive (send to the primary only) or active (send to every replica; first reply wins); required for more than one', parse: v.oneOf('active', 'passive') }),
  spec({ key: 'primary', flag: '--primary <server>', description: 'with --servers --mode passive: the primary (default: the first listed)', parse: v.name }),
  spec({ key: 'key', flag: '--key <key>', description: 'routing key: the RM serves this client from the replica group the key maps to (default: group g1)', parse: v.name }),
  spec({ key: 'message', flag: '--message <text>', description: 'request payload; {n} is replaced by the request number (e.g. "add 1", "append C1-{n}")', default: DEFAULT_CLIENT_MESSAGE, parse: v.text }),
  spec({ key: 'interval', flag: '--interval <seconds>', description: 'seconds between requests', default: DEFAULT_CLIENT_INTERVAL_S, parse: v.seconds }),
  spec({ key: 'count', flag: '--count <n>', description: 'stop after n replies (0: run until stopped)', default: 0, parse: v.count }),
  spec({ key: 'interactive', flag: '--interactive', description: 'send lines typed on stdin instead of --message', default: false, parse: v.bool }),
  spec({ key: 'timeout', flag: '--timeout <seconds>', description: 'seconds to wait for a reply before retrying', default: DEFAULT_REQUEST_TIMEOUT_S, parse: v.seconds }),
  spec({ key: 'giveUp', flag: '--give-up <seconds>', description: 'stop with an error after this long without any reachable replica', default: DEFAULT_GIVE_UP_S, parse: v.seconds }),
  clientSecretFile,
  tlsCa,
];

export const SYNC_OPTIONS: OptionSpec[] = [
  spec({ key: 'rm', flag: '--rm <host:port>', description: 'the Replication Manager', default: `${DEFAULT_HOST}:${DEFAULT_RM_PORT}`, parse: v.address }),
  spec({ key: 'groups', flag: '--groups <names>', description: 'the replica groups to carry outboxes between, e.g. g1,g2,g3 (default)', default: ['g1', 'g2', 'g3'], parse: v.nameList }),
  spec({ ...secretFile, description: 'the deployment secret: with it the sync proves itself to the RM and reports its backlog (ftkit ctl status)' }),
  clientSecretFile,
  tlsCa,
];

export const SNS_OPTIONS: OptionSpec[] = [
  spec({ key: 'user', flag: '-u, --user <id>', description: 'your user id (the RM routes you to the group it maps to)', parse: v.name }),
  spec({ key: 'rm', flag: '--rm <host:port>', description: 'the Replication Manager', default: `${DEFAULT_HOST}:${DEFAULT_RM_PORT}`, parse: v.address }),
  clientSecretFile,
  tlsCa,
];

export const CHAT_OPTIONS: OptionSpec[] = [
  spec({ key: 'rm', flag: '--rm <host:port>', description: 'the Replication Manager (the master: it hands you the least-loaded replica with ftkit rm --route least-loaded)', default: `${DEFAULT_HOST}:${DEFAULT_RM_PORT}`, parse: v.address }),
  clientSecretFile,
  tlsCa,
];

export const CTL_OPTIONS: OptionSpec[] = [
  spec({ key: 'rm', flag: '--rm <host:port>', description: 'the Replication Manager', default: `${DEFAULT_HOST}:${DEFAULT_RM_PORT}`, parse: v.address }),
  spec({ key: 'json', flag: '--json', description: 'print the raw JSON answer', default: false, parse: v.bool }),
  spec({ key: 'group', flag: '--group <group>', description: 'set: the replica group the property is for (replicas, primary, checkpoint-freq, lag-timeout); default: g1, or every group for the others', parse: v.name }),
  spec({ key: 'config', flag: '--config <file>', description: 'read the rm address and the secret files from this .ini file (its [ctl] section, else its top level)', parse: v.text, ini: false }),
  secretFile,
  adminSecretFile,
  tlsCa,
];

/** `ftkit up`: its --config is the deployment file itself, read whole (one section per component). */
export const UP_OPTIONS: OptionSpec[] = [
  spec({ key: 'machine', flag: '--machine <address>', description: "start the components whose host is this address (default: any of this machine's addresses)", parse: v.host }),
  spec({ key: 'clients', flag: '--clients', description: "also start the file's clients (sections with rm = , or named Cn)", default: false, parse: v.bool }),
  spec({ key: 'dryRun', flag: '--dry-run', description: 'print the command lines it would run, and start nothing', default: false, parse: v.bool }),
];

export const DEMO_OPTIONS: OptionSpec[] = [
  spec({ key: 'mode', flag: '--mode <mode>', description: 'replication style: active or passive', default: DEFAULT_MODE, parse: v.oneOf('active', 'passive') }),
  spec({
    key: 'app',
    flag: '--app <app>',
    description: 'the replicated application: status, counter or log; sns (three groups, ftkit sync and scripted users) or chat (active, least-loaded, scripted users in a room)',
    default: DEFAULT_APP,
    parse: v.oneOf('status', 'counter', 'log', 'sns', 'chat'),
  }),
  spec({ key: 'scenario', flag: '--scenario <name>', description: 'run a scripted fault scenario unattended (m5)', parse: v.oneOf('m5') }),
  spec({
    key: 'milestone',
    flag: '--milestone <n>',
    description: "the course's milestone n (1–5) as its set-up launches it: 1–3 without an RM (1 also without a GFD), 4 with manual recovery, 5 automatic (docs/MILESTONES.md)",
    parse: (raw) => Number(v.oneOf('1', '2', '3', '4', '5')(raw.trim())),
  }),
  spec({ key: 'heartbeatFreq', flag: '--heartbeat-freq <seconds>', description: 'LFD and GFD heartbeat frequency', default: DEFAULT_HEARTBEAT_FREQ_S, parse: v.seconds }),
  spec({ key: 'checkpointFreq', flag: '--checkpoint-freq <seconds>', description: 'checkpoint frequency', default: DEFAULT_CHECKPOINT_FREQ_S, parse: v.seconds }),
  spec({ key: 'dataDir', flag: '--data-dir <dir>', description: 'keep each replica on disk in <dir>/<name> (docs/DURABILITY.md): kill every replica at once and nothing acknowledged is lost', parse: v.text }),
  spec({
    key: 'basePort',
    flag: '--base-port <port>',
    description: 'the RM\'s port; the GFD takes base+1, the dashboard base+2, LFD1–3 base+101–103 and S1–S3 base+201–203 (so at most 65332)',
    default: DEFAULT_RM_PORT,
    parse: v.port,
  }),
  spec({
    key: 'groups',
    flag: '--groups <n>',
    description: `replica groups of three (1–3): g1 = S1–S3, g2 = S4–S6, g3 = S7–S9 over LFD1–3, leaders on different machines; client Ck has key k (RM --route mod --fallback)`,
    parse: (raw) => Number(v.oneOf('1', '2', '3')(raw.trim())),
  }),
  spec({ key: 'tmux', flag: '--tmux', description: 'one tmux pane per process (a new window when run inside tmux), keys in the first pane', default: false, parse: v.bool }),
  spec({ key: 'heartbeats', flag: '--heartbeats', description: 'show the heartbeat lines (LFDs and GFD sending, servers and LFDs answering)', default: false, parse: v.bool }),
  spec({ key: 'verbose', flag: '--verbose', description: 'also show each component\'s lifecycle (RM: idle -> starting)', default: false, parse: v.bool }),
  spec({ key: 'autoRestart', flag: '--no-auto-restart', description: 'the RM does not relaunch replicas that die (relaunch them by hand)', default: true, parse: v.bool }),
  spec({ key: 'duration', flag: '--duration <seconds>', description: 'stop in order after this many seconds (default: run until q, Ctrl-C or SIGTERM)', parse: v.seconds }),
  spec({ key: 'seed', flag: '--seed <n>', description: 'the scenario\'s random choices (active mode picks its victims at random; printed at the start)', parse: v.count }),
  slowWarmup,
  tlsCert,
  tlsKey,
  tlsCa,
];
