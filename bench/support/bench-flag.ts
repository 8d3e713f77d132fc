/**
 * A numeric bench option: `--name N` or `--name=N` on the command line, else
 * the environment variable `env`, else `fallback`. Positive integers only, so
 * a typo fails at once instead of after an hour of runs.
 */
export function benchFlag(name: string, env: string, fallback: number, argv: readonly string[] = process.argv.slice(2), environ: NodeJS.ProcessEnv = process.env): number {
  let raw: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) raw = argv[i + 1];
    else if (a.startsWith(`--${name}=`)) raw = a.slice(name.length + 3);
  }
  raw ??= environ[env];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`--${name} (${env}) must be a positive integer (got ${raw})`);
  return n;
}
