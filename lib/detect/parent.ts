/**
 * A process started by another ftkit process (an LFD launching a server, the demo, the tests,
 * the chaos harness) stops when its parent goes: the parent sets this variable and keeps a pipe
 * on the child's stdin; the child stops when that pipe closes, so it never outlives a parent
 * killed with SIGKILL.
 */
export const PARENT_PIPE_ENV = 'FTKIT_EXIT_WITH_PARENT';

/**
 * The line a parent writes on that pipe before an orderly stop of the whole system (the demo's
 * `q`): the child stops tracing its peers' departures as faults, says so (`system_stopping`), and
 * passes the line on to the processes it started. The parent then stops it as usual.
 */
export const SYSTEM_STOPPING_LINE = 'system stopping';
