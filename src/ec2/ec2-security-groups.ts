import { Ec2ApiError, invalidParameterValue } from './ec2-api-error.js';
import type { Ec2Call, Ec2Context, Ec2Handler } from './ec2-context.js';
import { checkFilters, passesFilters } from './ec2-filters.js';
import { isEc2Id, newEc2Id } from './ec2-ids.js';
import type { Ec2Records, IngressRule, SecurityGroupRecord } from './ec2-records.js';
import type { FirewallRuleWire } from '../contract/agent-api.js';
import { firewallRuleKey } from '../contract/same-rules.js';
import type { XmlObject } from './ec2-xml.js';

const GROUP_NAME = /^[\x20-\x7e]{1,255}$/;
const PROTOCOLS: Readonly<Record<string, string>> = { tcp: 'tcp', udp: 'udp', icmp: 'icmp', '-1': 'all', all: 'all', '6': 'tcp', '17': 'udp', '1': 'icmp' };

/** Told whenever an instance's groups or a group's rules change, so that the hosts' firewalls follow. */
export type SecurityGroupsChanged = (vmIds: readonly string[]) => Promise<void>;

/** Where the instances' firewalls go: the controller stores each VM's rules and pushes them to its host. */
export interface VmFirewallSink {
  /** null: the VM has no firewall (open); [] denies all ingress. */
  set(vmId: string, rules: readonly FirewallRuleWire[] | null): Promise<void>;
}

/** An instance's firewall: the union of its groups' ingress rules (an EC2 instance is in at least its default group). */
export async function instanceFirewall(records: Ec2Records, vmId: string): Promise<FirewallRuleWire[]> {
  return groupsFirewall(records, await records.groupsOf(vmId));
}

/** The union of these groups' ingress rules (RunInstances: before the instance exists, so that it boots with them). */
export async function groupsFirewall(records: Ec2Records, groupIds: readonly string[]): Promise<FirewallRuleWire[]> {
  const seen = new Map<string, FirewallRuleWire>();
  for (const g of groupIds) {
    for (const r of await records.rules(g)) {
      const rule = { protocol: r.protocol as FirewallRuleWire['protocol'], fromPort: r.fromPort, toPort: r.toPort, cidr: r.cidr };
      seen.set(firewallRuleKey(rule), rule);
    }
  }
  return [...seen.values()];
}

/** The hook that keeps the hosts' firewalls in step: each changed instance's rules, worked out again and handed to the sink. */
export function firewallsFollow(records: Ec2Records, sink: VmFirewallSink): SecurityGroupsChanged {
  return async (vmIds) => {
    for (const id of vmIds) await sink.set(id, await instanceFirewall(records, id));
  };
}

/** The caller's group `default`, made on first need (EC2 gives every account one). */
export async function defaultGroup(ctx: Ec2Context, call: Ec2Call): Promise<SecurityGroupRecord> {
  const have = (await ctx.records.securityGroups(call.userId)).find((g) => g.name === 'default');
  if (have) return have;
  await ctx.records.addSecurityGroup({ id: newEc2Id('security-group'), ownerId: call.userId, name: 'default', description: 'default group' });
  const made = (await ctx.records.securityGroups(call.userId)).find((g) => g.name === 'default');
  if (!made) throw new Ec2ApiError('InternalError', 'the default security group vanished', 500);
  return made;
}

/** Groups by id (`GroupId.N`/`SecurityGroupId.N`) or by name (`GroupName.N`/`SecurityGroup.N`), the caller's own only. */
export async function resolveGroups(ctx: Ec2Context, call: Ec2Call, ids: readonly string[], names: readonly string[]): Promise<SecurityGroupRecord[]> {
  // EC2 puts an instance given no group in the default one: so does RunInstances through this.
  if (ids.length + names.length === 0) return [await defaultGroup(ctx, call)];
  if (names.includes('default')) await defaultGroup(ctx, call);
  const mine = await ctx.records.securityGroups(call.userId);
  const out: SecurityGroupRecord[] = [];
  for (const id of ids) {
    if (!isEc2Id('security-group', id)) throw new Ec2ApiError('InvalidGroupId.Malformed', `Invalid id: "${id}"`);
    const g = mine.find((x) => x.id === id);
    if (!g) throw new Ec2ApiError('InvalidGroup.NotFound', `The security group '${id}' does not exist`);
    out.push(g);
  }
  for (const n of names) {
    const g = mine.find((x) => x.name === n);
    if (!g) throw new Ec2ApiError('InvalidGroup.NotFound', `The security group '${n}' does not exist`);
    out.push(g);
  }
  return out;
}

async function oneGroup(ctx: Ec2Context, call: Ec2Call): Promise<SecurityGroupRecord> {
  const id = call.params.optional('GroupId');
  const name = call.params.optional('GroupName');
  if (id === undefined && name === undefined) throw new Ec2ApiError('MissingParameter', 'The request must contain the parameter GroupId or GroupName');
  const [g] = await resolveGroups(ctx, call, id === undefined ? [] : [id], name === undefined || id !== undefined ? [] : [name]);
  if (!g) throw new Ec2ApiError('InvalidGroup.NotFound', 'The security group does not exist');
  return g;
}

export const createSecurityGroup: Ec2Handler = async (ctx, call) => {
  const name = call.params.required('GroupName');
  const description = call.params.required('GroupDescription');
  if (!GROUP_NAME.test(name) || name.startsWith('sg-')) throw invalidParameterValue('GroupName', 'must be 1-255 printable ASCII characters and not start with sg-');
  if (!GROUP_NAME.test(description)) throw invalidParameterValue('GroupDescription', 'must be 1-255 printable ASCII characters');
  if (call.params.optional('VpcId') !== undefined) throw new Ec2ApiError('InvalidVpcID.NotFound', 'nubo has no VPCs: leave VpcId out');
  const id = newEc2Id('security-group');
  if (!(await ctx.records.addSecurityGroup({ id, ownerId: call.userId, name, description }))) throw new Ec2ApiError('InvalidGroup.Duplicate', `The security group '${name}' already exists`);
  return { return: true, groupId: id };
};

export function deleteSecurityGroup(changed: SecurityGroupsChanged): Ec2Handler {
  return async (ctx, call) => {
    const g = await oneGroup(ctx, call);
    if (g.name === 'default') throw new Ec2ApiError('CannotDelete', 'the default security group cannot be deleted');
    const members = await ctx.records.membersOf(g.id);
    if (members.length > 0) throw new Ec2ApiError('DependencyViolation', `resource ${g.id} has a dependent object: ${members.length} instance(s) are in it`);
    await ctx.records.deleteSecurityGroup(g.id);
    await changed([]);
    return { return: true };
  };
}

export const describeSecurityGroups: Ec2Handler = async (ctx, call) => {
  const filters = call.params.filters();
  checkFilters(filters, ['group-id', 'group-name', 'description']);
  const picked = await resolveGroups(ctx, call, call.params.list('GroupId'), call.params.list('GroupName'));
  const all = call.params.list('GroupId').length + call.params.list('GroupName').length === 0 ? await ctx.records.securityGroups(call.userId) : picked;
  const tags = await ctx.records.tags(call.userId, all.map((g) => g.id));
  const out = [];
  for (const g of all) {
    const t = new Map(tags.filter((x) => x.resourceId === g.id).map((x) => [x.key, x.value]));
    if (!passesFilters(filters, { fields: { 'group-id': [g.id], 'group-name': [g.name], description: [g.description] }, tags: t })) continue;
    out.push({
      ownerId: call.userId, groupId: g.id, groupName: g.name, groupDescription: g.description,
      ipPermissions: groupPermissions(await ctx.records.rules(g.id)),
      ipPermissionsEgress: [{ ipProtocol: '-1', groups: [], ipRanges: [{ cidrIp: '0.0.0.0/0' }], ipv6Ranges: [], prefixListIds: [] }],
      tagSet: [...t].map(([key, value]) => ({ key, value })),
    });
  }
  return { securityGroupInfo: out };
};

function groupPermissions(rules: readonly IngressRule[]): XmlObject[] {
  const by = new Map<string, { r: IngressRule; cidrs: string[] }>();
  for (const r of rules) {
    const k = `${r.protocol}/${r.fromPort}/${r.toPort}`;
    const e = by.get(k) ?? { r, cidrs: [] };
    e.cidrs.push(r.cidr);
    by.set(k, e);
  }
  return [...by.values()].map(({ r, cidrs }) => ({
    ipProtocol: r.protocol === 'all' ? '-1' : r.protocol,
    ...(r.protocol === 'all' ? {} : { fromPort: r.fromPort, toPort: r.toPort }),
    groups: [], ipRanges: cidrs.map((c) => ({ cidrIp: c })), ipv6Ranges: [], prefixListIds: [],
  }));
}

/** The rules of an Authorize/Revoke call: `IpPermissions.N.*` (the SDKs) or the flat legacy `IpProtocol`/`FromPort`/`ToPort`/`CidrIp`. */
export function ingressRulesOf(call: Ec2Call): IngressRule[] {
  const p = call.params;
  const flat = p.optional('IpProtocol');
  const sets = flat !== undefined
    ? [{ where: '', protocol: flat, from: p.optional('FromPort'), to: p.optional('ToPort'), cidrs: [p.optional('CidrIp') ?? '0.0.0.0/0'] }]
    : indexesOf(call, 'IpPermissions').map((n) => {
      const w = `IpPermissions.${n}.`;
      return { where: w, protocol: p.required(`${w}IpProtocol`), from: p.optional(`${w}FromPort`), to: p.optional(`${w}ToPort`), cidrs: indexesOf(call, `${w}IpRanges`).map((m) => p.required(`${w}IpRanges.${m}.CidrIp`)) };
    });
  if (sets.length === 0) throw new Ec2ApiError('MissingParameter', 'The request must contain the parameter IpPermissions');
  const out: IngressRule[] = [];
  for (const s of sets) {
    const protocol = PROTOCOLS[s.protocol.toLowerCase()];
    if (protocol === undefined) throw invalidParameterValue(`${s.where}IpProtocol`, `${JSON.stringify(s.protocol)} is not tcp, udp, icmp or -1`);
    let from: number;
    let to: number;
    if (protocol === 'tcp' || protocol === 'udp') {
      from = port(s.from, `${s.where}FromPort`);
      to = port(s.to, `${s.where}ToPort`);
      if (from > to) throw invalidParameterValue(`${s.where}FromPort`, `${from} is above ToPort ${to}`);
    } else if (protocol === 'icmp') {
      // ICMP type and code (-1: any); kept for DescribeSecurityGroups, enforced as "any ICMP" of that type.
      from = s.from === undefined ? -1 : icmp(s.from, `${s.where}FromPort`);
      to = s.to === undefined ? -1 : icmp(s.to, `${s.where}ToPort`);
    } else {
      from = -1;
      to = -1;
    }
    if (s.cidrs.length === 0) throw new Ec2ApiError('MissingParameter', `The request must contain the parameter ${s.where}IpRanges.1.CidrIp`);
    for (const [i, c] of s.cidrs.entries()) out.push({ protocol, fromPort: from, toPort: to, cidr: cidr(c, `${s.where}IpRanges.${i + 1}.CidrIp`) });
  }
  return out;
}

function indexesOf(call: Ec2Call, prefix: string): number[] {
  // Ec2Params.filters() knows `Prefix.N.Name`; here any `Prefix.N.…` counts.
  const seen = new Set<number>();
  for (let n = 1; n <= 100; n++) if (call.params.hasPrefix(`${prefix}.${n}.`)) seen.add(n);
  return [...seen];
}

function port(v: string | undefined, name: string): number {
  if (v === undefined) throw new Ec2ApiError('MissingParameter', `The request must contain the parameter ${name}`);
  if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) throw invalidParameterValue(name, `${JSON.stringify(v)} is not a port (0-65535)`);
  return Number(v);
}

function icmp(v: string, name: string): number {
  if (!/^-?\d{1,3}$/.test(v) || Number(v) < -1 || Number(v) > 255) throw invalidParameterValue(name, `${JSON.stringify(v)} is not an ICMP type or code (-1..255)`);
  return Number(v);
}

/** An IPv4 CIDR in its canonical form (host bits zero), as nftables takes it. */
export function cidr(v: string, name: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(v);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const bits = m ? Number(m[5]) : -1;
  if (!m || octets.some((o) => o > 255) || bits > 32) throw invalidParameterValue(name, `${JSON.stringify(v)} is not an IPv4 CIDR (a.b.c.d/n)`);
  const addr = octets.reduce((a, o) => a * 256 + o, 0);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const net = (addr & mask) >>> 0;
  if (net !== addr) throw invalidParameterValue(name, `${v} has host bits set (the network is ${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.')}/${bits})`);
  return v;
}

function ingress(kind: 'authorize' | 'revoke', changed: SecurityGroupsChanged): Ec2Handler {
  return async (ctx, call) => {
    const g = await oneGroup(ctx, call);
    const rules = ingressRulesOf(call);
    if (kind === 'authorize') {
      const dup = await ctx.records.addRules(g.id, rules);
      if (dup[0]) throw new Ec2ApiError('InvalidPermission.Duplicate', `the specified rule "peer: ${dup[0].cidr}, ${dup[0].protocol.toUpperCase()}, from port: ${dup[0].fromPort}, to port: ${dup[0].toPort}, ALLOW" already exists`);
    } else {
      const missing = await ctx.records.removeRules(g.id, rules);
      if (missing[0]) throw new Ec2ApiError('InvalidPermission.NotFound', `The specified rule does not exist in this security group (${missing[0].protocol} ${missing[0].fromPort}-${missing[0].toPort} from ${missing[0].cidr})`);
    }
    await changed(await ctx.records.membersOf(g.id));
    return { return: true };
  };
}

export const authorizeSecurityGroupIngress = (changed: SecurityGroupsChanged): Ec2Handler => ingress('authorize', changed);
export const revokeSecurityGroupIngress = (changed: SecurityGroupsChanged): Ec2Handler => ingress('revoke', changed);
