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
  /**
   * The lease table is PostgreSQL-only and outside the store's schema type.
   * `owned`: the connection is the lease's own (openLeaseDb), closed by close().
   */
  constructor(private readonly db: Kysely<unknown>, private readonly owned = false) {}

  /**
   * Takes the lease when it is free or lapsed (term + 1), or extends it when
   * `holder` still holds it (same term). Undefined when another controller
   * holds a live lease. A holder whose lease lapsed gets a new term: it has
   * stopped acting on the old one by then (its own deadline is earlier).
   */
  async acquireOrRenew(holder: string, url: string, leaseMs: number): Promise<LeaseHolder | undefined> {
    type Row = { term: number | string; holder: string; url: string };
    const held = (rows: Row[]): LeaseHolder | undefined => (rows[0] === undefined ? undefined : { term: Number(rows[0].term), holder: rows[0].holder, url: rows[0].url, live: true });
    // A renewal changes no key column: it does not wait for the key-share locks the holder's own writes keep on the row (the fence).
    const renewed = await sql<Row>`
      UPDATE controller_leadership SET url = ${url}, expires_at = clock_timestamp() + ${leaseMs} * interval '1 millisecond'
      WHERE id = 1 AND holder = ${holder} AND expires_at > clock_timestamp() RETURNING term, holder, url`.execute(this.db);
    if (renewed.rows.length > 0) return held(renewed.rows);
    // Looked at without a lock first: a follower campaigning against a live lease must not queue behind the leader's writes.
    const now = await this.current();
    if (now?.live === true) return undefined;
    return this.db.transaction().execute(async (trx) => {
      await sql`INSERT INTO controller_leadership (id, term, holder, url, expires_at) VALUES (1, 0, '', '', '-infinity') ON CONFLICT (id) DO NOTHING`.execute(trx);
      // FOR UPDATE conflicts with the fence's key-share locks: the takeover waits for the old leader's open write transactions.
      const { rows } = await sql<{ live: boolean }>`SELECT expires_at > clock_timestamp() AS live FROM controller_leadership WHERE id = 1 FOR UPDATE`.execute(trx);
      if (rows[0]?.live !== false) return undefined;
      const taken = await sql<Row>`
        UPDATE controller_leadership SET term = term + 1, holder = ${holder}, url = ${url}, expires_at = clock_timestamp() + ${leaseMs} * interval '1 millisecond'
        WHERE id = 1 RETURNING term, holder, url`.execute(trx);
      return held(taken.rows);
    });
  }

  /** The present lease, live or lapsed; undefined before any controller led. */
  async current(): Promise<LeaseHolder | undefined> {
    const { rows } = await sql<{ term: number | string; holder: string; url: string; live: boolean }>`
      SELECT term, holder, url, expires_at > clock_timestamp() AS live FROM controller_leadership WHERE id = 1`.execute(this.db);
    const row = rows[0];
    return row === undefined ? undefined : { term: Number(row.term), holder: row.holder, url: row.url, live: row.live };
  }

  /** Closes the lease's own connection; nothing when it shares the store's. */
  async close(): Promise<void> {
    if (this.owned) await this.db.destroy();
  }

  /** Ends `holder`'s lease now (an orderly stop), so a follower need not wait for it to lapse. */
  async release(holder: string): Promise<void> {
    await sql`UPDATE controller_leadership SET expires_at = clock_timestamp() WHERE id = 1 AND holder = ${holder} AND expires_at > clock_timestamp()`.execute(this.db);
  }
}
