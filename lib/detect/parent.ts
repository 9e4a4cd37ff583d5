/**
 * A process started by another ftkit process (an LFD launching a server, the demo, the tests,
 * the chaos harness) stops when its parent goes: the parent sets this variable and keeps a pipe
 * on the child's stdin; the child stops when that pipe closes, so it never outlives a parent
 * killed with SIGKILL.
 */
export const PARENT_PIPE_ENV = 'FTKIT_EXIT_WITH_PARENT';
