import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../../src/util/run-command.js';
import { pollUntil } from '../../src/util/deadline.js';

export interface PostgresCluster {
  /** `postgresql:///<db>?host=<socket dir>&user=postgres`: unix socket only, no TCP listener. */
  readonly connectionString: string;
  readonly socketDir: string;
  /** The postmaster's pid (from postmaster.pid). */
  readonly pid: number;
  /** Stops the server (`pg_ctl stop -m fast`, then SIGQUIT to its pid if that fails) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

export interface PostgresClusterOptions {
  /** Default `/usr/lib/postgresql/15/bin`, or `NUBO_PG_BIN`. */
  readonly binDir?: string | undefined;
  readonly database?: string | undefined;
  /** Deadline for initdb, start-up and createdb each; default 60 s. */
  readonly timeoutMs?: number | undefined;
}

/**
 * A throw-away PostgreSQL cluster for tests: initdb into a fresh temp dir
 * owned by the `postgres` user (the server refuses to run as root), started
 * with `pg_ctl` listening on a unix socket in that dir only, one database
 * created. Throws (with the server log's tail) when any step fails — a test
 * that needs PostgreSQL fails rather than skips.
 */
export async function startPostgresCluster(opts: PostgresClusterOptions = {}): Promise<PostgresCluster> {
  const bin = opts.binDir ?? process.env['NUBO_PG_BIN'] ?? '/usr/lib/postgresql/15/bin';
  const database = opts.database ?? 'nubo_test';
  const timeoutMs = opts.timeoutMs ?? 60_000;
  if (!existsSync(join(bin, 'postgres'))) throw new Error(`PostgreSQL server binaries not found in ${bin} (apt-get install postgresql)`);

  const root = await mkdtemp(join(tmpdir(), 'nubo-pg-'));
  const dataDir = join(root, 'data');
  const socketDir = join(root, 'sock');
  const logFile = join(root, 'postgres.log');
  let pid = 0;
  let stopped: Promise<void> | undefined;

  const asPostgres = (tool: string, args: readonly string[], timeout = timeoutMs) =>
    runCommand('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args], { cwd: root, timeoutMs: timeout });

  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      if (existsSync(join(dataDir, 'postmaster.pid'))) {
        try {
          await asPostgres('pg_ctl', ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '30'], 40_000);
        } catch {
          if (pid > 0) await killByPid(pid);
        }
      }
      await rm(root, { recursive: true, force: true });
    })());

  try {
    await mkdir(socketDir);
    const uid = Number((await runCommand('id', ['-u', 'postgres'])).stdout.trim());
    const gid = Number((await runCommand('id', ['-g', 'postgres'])).stdout.trim());
    await chown(root, uid, gid);
    await chown(socketDir, uid, gid);
    await asPostgres('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    const serverOpts = [
      `-k ${socketDir}`,
      "-c listen_addresses=''",
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=50',
    ].join(' ');
    try {
      await asPostgres('pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', String(Math.ceil(timeoutMs / 1000)), '-o', serverOpts], timeoutMs + 5_000);
    } finally {
      pid = await readPid(dataDir);
    }
    await asPostgres('createdb', ['-h', socketDir, '-U', 'postgres', database]);
  } catch (err) {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    await stop().catch(() => {});
    const tail = log.trim().split('\n').slice(-10).join('\n');
    throw new Error(`could not start PostgreSQL: ${err instanceof Error ? err.message : String(err)}${tail ? `\n${tail}` : ''}`, { cause: err });
  }
  return {
    connectionString: `postgresql:///${database}?host=${encodeURIComponent(socketDir)}&user=postgres`,
    socketDir,
    pid,
    stop,
  };
}

async function readPid(dataDir: string): Promise<number> {
  const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number(text.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : 0;
}

/** Immediate shutdown of the postmaster by its pid (SIGQUIT), then SIGKILL if it lingers. */
async function killByPid(pid: number): Promise<void> {
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, 'SIGQUIT');
  try {
    await pollUntil('postgres exit', () => (alive() ? undefined : true), { timeoutMs: 10_000, intervalMs: 100 });
  } catch {
    if (alive()) process.kill(pid, 'SIGKILL');
  }
}
