import { sql, type Kysely } from 'kysely';

/** Who leads the controllers, as the lease row says. */
export interface LeaseHolder {
  readonly term: number;
  readonly holder: string;
  readonly url: string;
  /** Whether the lease was still live on PostgreSQL's clock when read. */
  readonly live: boolean;
}

/**
 * The leadership lease of several controllers on one PostgreSQL (migration
 * 0007). Expiry is computed and compared on PostgreSQL's clock alone, so the
 * controllers' clocks never have to agree.
 */
export class LeadershipRepository {
  // The lease table is PostgreSQL-only and outside the store's schema type.
  constructor(private readonly db: Kysely<unknown>) {}

  /**
   * Takes the lease when it is free or lapsed (term + 1), or extends it when
   * `holder` still holds it (same term). Undefined when another controller
   * holds a live lease. A holder whose lease lapsed gets a new term: it has
   * stopped acting on the old one by then (its own deadline is earlier).
   */
  async acquireOrRenew(holder: string, url: string, leaseMs: number): Promise<LeaseHolder | undefined> {
    const { rows } = await sql<{ term: number | string; holder: string; url: string }>`
      INSERT INTO controller_leadership AS l (id, term, holder, url, expires_at)
      VALUES (1, 1, ${holder}, ${url}, clock_timestamp() + ${leaseMs} * interval '1 millisecond')
      ON CONFLICT (id) DO UPDATE SET
        term = CASE WHEN l.holder = excluded.holder AND l.expires_at > clock_timestamp() THEN l.term ELSE l.term + 1 END,
        holder = excluded.holder, url = excluded.url, expires_at = excluded.expires_at
      WHERE (l.holder = excluded.holder AND l.expires_at > clock_timestamp()) OR l.expires_at <= clock_timestamp()
      RETURNING l.term, l.holder, l.url`.execute(this.db);
    const row = rows[0];
    return row === undefined ? undefined : { term: Number(row.term), holder: row.holder, url: row.url, live: true };
  }

  /** The present lease, live or lapsed; undefined before any controller led. */
  async current(): Promise<LeaseHolder | undefined> {
    const { rows } = await sql<{ term: number | string; holder: string; url: string; live: boolean }>`
      SELECT term, holder, url, expires_at > clock_timestamp() AS live FROM controller_leadership WHERE id = 1`.execute(this.db);
    const row = rows[0];
    return row === undefined ? undefined : { term: Number(row.term), holder: row.holder, url: row.url, live: row.live };
  }

  /** Ends `holder`'s lease now (an orderly stop), so a follower need not wait for it to lapse. */
  async release(holder: string): Promise<void> {
    await sql`UPDATE controller_leadership SET expires_at = clock_timestamp() WHERE id = 1 AND holder = ${holder} AND expires_at > clock_timestamp()`.execute(this.db);
  }
}
