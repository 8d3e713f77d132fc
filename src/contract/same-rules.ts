import type { FirewallRuleWire } from './agent-api.js';

/** One rule as a string: two rules allow the same exactly when their keys are equal. */
export function firewallRuleKey(r: FirewallRuleWire): string {
  return `${r.protocol}/${r.fromPort}/${r.toPort}/${r.cidr}`;
}

/** Whether two rule lists allow the same (order aside); null (no firewall) only equals null. */
export function sameRules(a: readonly FirewallRuleWire[] | null, b: readonly FirewallRuleWire[] | null): boolean {
  if (a === null || b === null) return a === b;
  const key = (rs: readonly FirewallRuleWire[]): string => rs.map(firewallRuleKey).sort().join(',');
  return key(a) === key(b);
}
