import type { FieldIssue } from '../errors/validation-error.js';
import { isLabAddress, parseCidr, parseIpv4 } from '../network/ipv4.js';

/** DESIGN §6: virtual networks take their addresses from 198.18.64.0/18, inside the lab's 198.18.0.0/15. */
export const VNET_RANGE = '198.18.64.0/18';
const VNET = parseCidr(VNET_RANGE)!;
const VNET_SIZE = 2 ** (32 - VNET.prefix);
/**
 * DESIGN §6: the single-machine default network (`nubo up`) lives in the
 * other half of 198.18.0.0/15, so it never overlaps the lab fabric when both
 * run on one machine.
 */
export const SINGLE_HOST_RANGE = '198.19.0.0/16';
const SINGLE = parseCidr(SINGLE_HOST_RANGE)!;
const SINGLE_SIZE = 2 ** (32 - SINGLE.prefix);
const within = (span: { first: number; end: number }, base: number, size: number): boolean => span.first >= base && span.end <= base + size;

/** The addresses [first, end) of a subnet, or undefined if `cidr` is not one. */
export function subnetSpan(cidr: string): { first: number; end: number; prefix: number } | undefined {
  const c = parseCidr(cidr);
  if (!c) return undefined;
  const size = 2 ** (32 - c.prefix);
  const first = c.address - (c.address % size);
  return { first, end: first + size, prefix: c.prefix };
}

export function subnetsOverlap(a: string, b: string): boolean {
  const x = subnetSpan(a);
  const y = subnetSpan(b);
  return x !== undefined && y !== undefined && x.first < y.end && y.first < x.end;
}

/**
 * The lab's safety rules for a new virtual network, as field issues (empty
 * when it may be created): the subnet lies inside 198.18.64.0/18 (lab
 * networks) or 198.19.0.0/16 (the single-machine network) with a prefix
 * from /16 to /30, gateway and DNS servers are lab addresses, the gateway a
 * host of the subnet. The store checks the rest (host bits, the range).
 */
export function networkIssues(b: { cidr: string; gateway?: string | undefined; dns?: readonly string[] | undefined }): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const span = subnetSpan(b.cidr);
  if (!span || span.prefix < 16 || span.prefix > 30) {
    issues.push({ field: 'cidr', message: 'must be an IPv4 subnet from /16 to /30, e.g. 198.18.64.0/24' });
  } else if (!isLabAddress(span.first) || !isLabAddress(span.end - 1)) {
    issues.push({ field: 'cidr', message: `${b.cidr} is outside the lab range 198.18.0.0/15 (RFC 2544): virtual networks use ${VNET_RANGE} (lab) or ${SINGLE_HOST_RANGE} (single machine), never 10/8, 172.16/12 or 192.168/16` });
  } else if (!within(span, VNET.address, VNET_SIZE) && !within(span, SINGLE.address, SINGLE_SIZE)) {
    issues.push({ field: 'cidr', message: `${b.cidr} is not inside ${VNET_RANGE} (the lab's range for virtual networks) or ${SINGLE_HOST_RANGE} (the single-machine network's)` });
  }
  if (b.gateway !== undefined) {
    const g = parseIpv4(b.gateway);
    if (g === undefined) issues.push({ field: 'gateway', message: 'not an IPv4 address' });
    else if (span && !(g > span.first && g < span.end - 1)) issues.push({ field: 'gateway', message: `${b.gateway} is not a host address of ${b.cidr}` });
  }
  for (const [i, d] of (b.dns ?? []).entries()) {
    const n = parseIpv4(d);
    if (n === undefined || !isLabAddress(n)) issues.push({ field: `dns.${i}`, message: `${d} is not an address of the lab range 198.18.0.0/15` });
  }
  return issues;
}
