/** IPv4 arithmetic for address ranges and the lab's safety rule. Pure. */

export function parseIpv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export function parseCidr(s: string): { address: number; prefix: number } | undefined {
  const [a, p, ...rest] = s.split('/');
  if (a === undefined || p === undefined || rest.length > 0 || !/^\d{1,2}$/.test(p)) return undefined;
  const address = parseIpv4(a);
  const prefix = Number(p);
  if (address === undefined || prefix > 32) return undefined;
  return { address, prefix };
}

const LAB_BASE = parseIpv4('198.18.0.0')!;
const LAB_SIZE = 2 ** 17; // a /15

/** nubo only ever uses the RFC 2544 benchmarking range 198.18.0.0/15 for lab traffic. */
export function isLabAddress(n: number): boolean {
  return n >= LAB_BASE && n < LAB_BASE + LAB_SIZE;
}
