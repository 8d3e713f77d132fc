import { get } from 'node:http';

export interface HttpLoopStats {
  readonly ok: number;
  readonly failed: number;
  readonly errors: readonly string[];
  /** Longest time between two successful answers (the downtime a client saw), ms. */
  readonly longestGapMs: number;
  /** When each successful answer completed (ms since the loop began). */
  readonly answersAtMs: readonly number[];
  readonly startedAt: number;
}

export interface HttpLoop {
  /** Stops after the request in flight and returns what the client saw. */
  stop(): Promise<HttpLoopStats>;
  /** Successful answers so far. */
  readonly ok: () => number;
}

function fetchOnce(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    // agent: false — a new connection per request, like the web clients of Clark et al.'s experiment.
    const req = get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/**
 * A client fetching `url` in a loop, one request at a time, each checked for
 * `expectBytes`; records failures and the longest gap between answers. A
 * request that times out counts as failed (its gap shows in longestGapMs).
 */
export function startHttpLoop(url: string, opts: { expectBytes?: number; timeoutMs?: number } = {}): HttpLoop {
  const startedAt = Date.now();
  const answers: number[] = [];
  const errors: string[] = [];
  let ok = 0;
  let stopping = false;
  const done = (async () => {
    while (!stopping) {
      try {
        const n = await fetchOnce(url, opts.timeoutMs ?? 3_000);
        if (opts.expectBytes !== undefined && n !== opts.expectBytes) throw new Error(`got ${n} bytes, expected ${opts.expectBytes}`);
        ok++;
        answers.push(Date.now() - startedAt);
      } catch (err) {
        errors.push(`${Date.now() - startedAt} ms: ${err instanceof Error ? err.message : String(err)}`);
        // A refused connection fails at once: do not spin.
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  })();
  return {
    ok: () => ok,
    async stop(): Promise<HttpLoopStats> {
      stopping = true;
      await done;
      let gap = answers[0] ?? 0;
      for (let i = 1; i < answers.length; i++) gap = Math.max(gap, answers[i]! - answers[i - 1]!);
      return { ok, failed: errors.length, errors, longestGapMs: gap, answersAtMs: answers, startedAt };
    },
  };
}
