/** A user-defined mixin as stored: its identifier's parts, title, location (under the OCCI root) and the kinds it applies to. */
export interface UserMixinRecord {
  readonly scheme: string;
  readonly term: string;
  readonly title: string;
  readonly location: string;
  readonly applies: readonly string[];
}

/** A resource a mixin tags, by its OCCI collection and id. */
export interface TaggedEntity {
  readonly collection: string;
  readonly id: string;
}

export type DefineOutcome = 'defined' | 'identifier-taken' | 'location-taken';

/**
 * Where the user-defined mixins of OCCI and their tags are kept (migration
 * 0031; the implementation is the controller's, `controller/sql-occi-mixin-records.ts`:
 * this layer reaches no store). Every call is scoped by the caller's user id:
 * a user sees and changes only their own. Each change is atomic, so a crash
 * leaves a mixin with all of its tags or none of the change.
 */
export interface OcciMixinRecords {
  list(ownerId: string): Promise<UserMixinRecord[]>;
  define(ownerId: string, m: UserMixinRecord): Promise<DefineOutcome>;
  /** Removes the mixin and every tag of it, together. @returns false when the owner has no such mixin */
  remove(ownerId: string, scheme: string, term: string): Promise<boolean>;
  /** Every tag of the owner's mixins: `collection/id` → the mixins' identifiers. */
  tags(ownerId: string): Promise<Map<string, string[]>>;
  /** Tags `add` and untags `remove`, in one transaction; `replace`: the mixin tags exactly `add` afterwards. Tagging twice is once. */
  retag(ownerId: string, scheme: string, term: string, change: { readonly add: readonly TaggedEntity[]; readonly remove: readonly TaggedEntity[]; readonly replace: boolean }): Promise<void>;
}
