import { Ec2ApiError, invalidParameterValue, missingParameter } from './ec2-api-error.js';

/** Bounds on a request's parameters: EC2's own limits are higher, but nothing nubo serves needs more. */
const MAX_PARAMS = 2000;
const MAX_NAME = 256;
/** UserData is the biggest value a caller sends: 64 KiB decoded, base64 on the wire. */
const MAX_VALUE = 96 * 1024;
const MAX_LIST = 1000;

export interface Ec2Filter {
  readonly name: string;
  readonly values: readonly string[];
}

export interface Ec2Tag {
  readonly key: string;
  readonly value: string;
}

/**
 * The parameters of one Query API request (form body and query string
 * together), with EC2's conventions for lists (`InstanceId.1`), filters
 * (`Filter.1.Name`, `Filter.1.Value.1`) and tags. Every refusal names the
 * parameter.
 */
export class Ec2Params {
  private constructor(private readonly values: ReadonlyMap<string, string>) {}

  /** @throws Ec2ApiError `MalformedQueryString` for a repeated or oversized parameter */
  static parse(...sources: readonly string[]): Ec2Params {
    const values = new Map<string, string>();
    for (const source of sources) {
      if (source === '') continue;
      for (const [name, value] of new URLSearchParams(source)) {
        if (name.length === 0 || name.length > MAX_NAME) throw new Ec2ApiError('MalformedQueryString', `a parameter name is empty or longer than ${MAX_NAME} characters`);
        if (value.length > MAX_VALUE) throw invalidParameterValue(name, `longer than ${MAX_VALUE} characters`);
        if (values.has(name)) throw new Ec2ApiError('MalformedQueryString', `the parameter ${name} is given twice`);
        values.set(name, value);
        if (values.size > MAX_PARAMS) throw new Ec2ApiError('MalformedQueryString', `more than ${MAX_PARAMS} parameters`);
      }
    }
    return new Ec2Params(values);
  }

  static of(entries: Record<string, string>): Ec2Params {
    return new Ec2Params(new Map(Object.entries(entries)));
  }

  /** Whether any parameter's name starts with `prefix`. */
  hasPrefix(prefix: string): boolean {
    for (const name of this.values.keys()) if (name.startsWith(prefix)) return true;
    return false;
  }

  optional(name: string): string | undefined {
    return this.values.get(name);
  }

  required(name: string): string {
    const v = this.values.get(name);
    if (v === undefined || v === '') throw missingParameter(name);
    return v;
  }

  int(name: string, bounds: { min: number; max: number }): number | undefined {
    const v = this.values.get(name);
    if (v === undefined) return undefined;
    if (!/^-?\d{1,10}$/.test(v)) throw invalidParameterValue(name, `${JSON.stringify(v)} is not an integer`);
    const n = Number(v);
    if (n < bounds.min || n > bounds.max) throw invalidParameterValue(name, `${n} is outside ${bounds.min}..${bounds.max}`);
    return n;
  }

  bool(name: string): boolean | undefined {
    const v = this.values.get(name);
    if (v === undefined) return undefined;
    if (v !== 'true' && v !== 'false') throw invalidParameterValue(name, `${JSON.stringify(v)} is neither true nor false`);
    return v === 'true';
  }

  /** `Prefix.1`, `Prefix.2`, … in index order (gaps allowed, as the SDKs never leave them but hand-made requests may). */
  list(prefix: string): string[] {
    return this.indexed(prefix).map(([, v]) => v);
  }

  /** `Filter.N.Name` with its `Filter.N.Value.M`. */
  filters(prefix = 'Filter'): Ec2Filter[] {
    return this.indexes(prefix).map((n) => ({ name: this.required(`${prefix}.${n}.Name`), values: this.list(`${prefix}.${n}.Value`) }));
  }

  /** `Tag.N.Key` / `Tag.N.Value` (CreateTags, DeleteTags: a missing value is allowed there). */
  tags(prefix = 'Tag'): Ec2Tag[] {
    return this.indexes(prefix).map((n) => ({ key: this.required(`${prefix}.${n}.Key`), value: this.optional(`${prefix}.${n}.Value`) ?? '' }));
  }

  /** RunInstances' `TagSpecification.N.ResourceType` with its `TagSpecification.N.Tag.M.*`. */
  tagSpecifications(): { resourceType: string; tags: Ec2Tag[] }[] {
    return this.indexes('TagSpecification').map((n) => ({ resourceType: this.required(`TagSpecification.${n}.ResourceType`), tags: this.tags(`TagSpecification.${n}.Tag`) }));
  }

  private indexed(prefix: string): [number, string][] {
    const out: [number, string][] = [];
    for (const [name, value] of this.values) {
      if (!name.startsWith(`${prefix}.`)) continue;
      const rest = name.slice(prefix.length + 1);
      if (!/^\d+$/.test(rest)) continue;
      out.push([this.index(name, rest), value]);
    }
    return out.sort((a, b) => a[0] - b[0]);
  }

  /** The N of every `Prefix.N.…` parameter, in order. */
  private indexes(prefix: string): number[] {
    const found = new Set<number>();
    for (const name of this.values.keys()) {
      const m = name.startsWith(`${prefix}.`) ? /^(\d+)\./.exec(name.slice(prefix.length + 1)) : null;
      if (m?.[1] !== undefined) found.add(this.index(name, m[1]));
    }
    return [...found].sort((a, b) => a - b);
  }

  private index(name: string, digits: string): number {
    const n = Number(digits);
    if (n < 1 || n > MAX_LIST) throw invalidParameterValue(name, `list index ${digits} is outside 1..${MAX_LIST}`);
    return n;
  }
}
