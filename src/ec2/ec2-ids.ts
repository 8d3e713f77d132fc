import { randomBytes } from 'node:crypto';

/** The kinds of nubo resource an AWS-form id names, with their prefixes. */
export const EC2_ID_PREFIXES = { instance: 'i', image: 'ami', volume: 'vol', snapshot: 'snap', 'security-group': 'sg', reservation: 'r', 'key-pair': 'key' } as const;
export type Ec2IdKind = keyof typeof EC2_ID_PREFIXES;
/** The kinds whose ids map onto a nubo resource's own id (the others are EC2's own records). */
export type MappedKind = 'instance' | 'image' | 'volume' | 'snapshot';

/** A new id in AWS's form: the prefix and 17 lowercase hex digits (as EC2's long ids). */
export function newEc2Id(kind: Ec2IdKind): string {
  return `${EC2_ID_PREFIXES[kind]}-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

/** Whether `id` has the form of an id of `kind` (anything else is `…Malformed`/`NotFound` before a lookup). */
export function isEc2Id(kind: Ec2IdKind, id: string): boolean {
  return new RegExp(`^${EC2_ID_PREFIXES[kind]}-[0-9a-f]{8}(?:[0-9a-f]{9})?$`).test(id);
}
