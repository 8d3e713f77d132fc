import assert from 'node:assert/strict';
import type { Store } from './open-store.js';
import type { Host } from './repositories/hosts-repository.js';
import type { User } from './repositories/users-repository.js';

/** What the contract cases share: the store under test and helpers bound to it. */
export interface ContractFixture {
  readonly store: Store;
  readonly owner: User;
  /** A name no other case uses. */
  readonly uniq: (prefix: string) => string;
  readonly enabledHost: (cpus: number, memoryMib: number, diskMib: number) => Promise<Host>;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** Asserts a rejection with the given class and stable code, then runs `check` on it. */
export async function rejectsWith<E extends ErrorClass>(p: Promise<unknown>, cls: E, code: string, check?: (e: InstanceType<E>) => void): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    assert.equal((err as unknown as { code: string }).code, code);
    check?.(err as InstanceType<E>);
    return true;
  });
}

export const SHA = 'a'.repeat(64);

/** Counts rows of a table: "nothing was written" checks. */
export async function count(store: Store, table: 'groups' | 'group_members' | 'shares' | 'api_tokens' | 'users' | 'hosts' | 'images' | 'templates' | 'vms' | 'vm_history' | 'networks' | 'leases' | 'events' | 'migrations' | 'datastores' | 'volumes'): Promise<number> {
  const r = await store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}
