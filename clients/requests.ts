/**
 * The requests of an interactive client (`ftkit sns`, `ftkit chat`), one after another on its
 * session, whatever the user types meanwhile; and, for requests made as the logged-in user, one
 * more login when its group no longer knows the user (every replica of it was lost and it started
 * empty), then the request again.
 */
import type { Session } from './session.js';

export class UserRequests {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly session: Session,
    /** The login request, as sent now (it may carry the time). */
    private readonly login: () => string,
  ) {}

  /** One request, after the ones before it: its result, or undefined when the service could not be reached (within `giveUpMs`, if given). */
  call(payload: string, giveUpMs?: number): Promise<string | undefined> {
    const next = this.queue.then(async () => {
      const usual = this.session.options.giveUpMs;
      if (giveUpMs !== undefined) this.session.options.giveUpMs = giveUpMs;
      try {
        const out = await this.session.request(payload);
        return out.status === 'ok' ? out.result : undefined;
      } finally {
        this.session.options.giveUpMs = usual;
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** A request made as the logged-in user: `unknown-user` from the service means log in again and ask once more. */
  async asUser(payload: string): Promise<string | undefined> {
    const r = await this.call(payload);
    if (r !== 'unknown-user') return r;
    return (await this.call(this.login())) === 'ok' ? this.call(payload) : undefined;
  }
}
