import { z } from 'zod';
import { groupView, type AddMemberBody, type CreateGroupBody, type GroupView } from '../contract/group-schemas.js';
import { shareView, type ShareBody, type ShareResource, type ShareView } from '../contract/share-schemas.js';
import {
  createdTokenView, createdUserView, tokenView, userDetailView, userView,
  type CreateTokenBody, type CreateUserBody, type CreatedTokenView, type CreatedUserView, type TokenView, type UpdateUserBody, type UserDetailView, type UserView,
} from '../contract/user-schemas.js';
import { quotaView, type QuotaView, type SetQuotaBody } from '../contract/quota-schemas.js';
import type { WaitOptions } from '../util/deadline.js';
import { jsonRequest } from './json-request.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
const seg = encodeURIComponent;

/** Typed client of the native API's tenancy routes: users, their tokens, groups, shares and quotas. */
export class TenancyClient {
  constructor(readonly baseUrl: string, readonly token: string) {}

  #call<T>(method: Method, path: string, schema: z.ZodType<T> | undefined, body?: unknown, o: WaitOptions = {}): Promise<T> {
    return jsonRequest({ method, url: `${this.baseUrl}/api/v1${path}`, token: this.token, body, ...(schema ? { schema } : {}), signal: o.signal, timeoutMs: o.timeoutMs ?? 30_000 });
  }

  listUsers(o?: WaitOptions): Promise<UserView[]> { return this.#call('GET', '/users', z.array(userView), undefined, o); }
  /** The answer's token is the user's first, shown only this once. */
  createUser(body: CreateUserBody, o?: WaitOptions): Promise<CreatedUserView> { return this.#call('POST', '/users', createdUserView, body, o); }
  getUser(ref: string, o?: WaitOptions): Promise<UserDetailView> { return this.#call('GET', `/users/${seg(ref)}`, userDetailView, undefined, o); }
  updateUser(ref: string, body: UpdateUserBody, o?: WaitOptions): Promise<UserView> { return this.#call('PATCH', `/users/${seg(ref)}`, userView, body, o); }
  deleteUser(ref: string, o?: WaitOptions): Promise<UserView> { return this.#call('DELETE', `/users/${seg(ref)}`, userView, undefined, o); }

  listTokens(user: string, o?: WaitOptions): Promise<TokenView[]> { return this.#call('GET', `/users/${seg(user)}/tokens`, z.array(tokenView), undefined, o); }
  createToken(user: string, body: CreateTokenBody, o?: WaitOptions): Promise<CreatedTokenView> { return this.#call('POST', `/users/${seg(user)}/tokens`, createdTokenView, body, o); }
  async revokeToken(user: string, token: string, o?: WaitOptions): Promise<void> { await this.#call('DELETE', `/users/${seg(user)}/tokens/${seg(token)}`, undefined, undefined, o); }

  listGroups(o?: WaitOptions): Promise<GroupView[]> { return this.#call('GET', '/groups', z.array(groupView), undefined, o); }
  createGroup(body: CreateGroupBody, o?: WaitOptions): Promise<GroupView> { return this.#call('POST', '/groups', groupView, body, o); }
  getGroup(ref: string, o?: WaitOptions): Promise<GroupView> { return this.#call('GET', `/groups/${seg(ref)}`, groupView, undefined, o); }
  deleteGroup(ref: string, o?: WaitOptions): Promise<GroupView> { return this.#call('DELETE', `/groups/${seg(ref)}`, groupView, undefined, o); }
  addMember(group: string, body: AddMemberBody, o?: WaitOptions): Promise<GroupView> { return this.#call('POST', `/groups/${seg(group)}/members`, groupView, body, o); }
  removeMember(group: string, user: string, o?: WaitOptions): Promise<GroupView> { return this.#call('DELETE', `/groups/${seg(group)}/members/${seg(user)}`, groupView, undefined, o); }

  listShares(resource: ShareResource, ref: string, o?: WaitOptions): Promise<ShareView[]> { return this.#call('GET', `/${resource}/${seg(ref)}/shares`, z.array(shareView), undefined, o); }
  share(resource: ShareResource, ref: string, body: ShareBody, o?: WaitOptions): Promise<ShareView[]> { return this.#call('POST', `/${resource}/${seg(ref)}/shares`, z.array(shareView), body, o); }
  unshare(resource: ShareResource, ref: string, group: string, o?: WaitOptions): Promise<ShareView[]> { return this.#call('DELETE', `/${resource}/${seg(ref)}/shares/${seg(group)}`, z.array(shareView), undefined, o); }

  /** The caller's own quota, or a user's or group's. */
  getQuota(of?: { readonly user?: string | undefined; readonly group?: string | undefined }, o?: WaitOptions): Promise<QuotaView> {
    const path = of?.user !== undefined ? `/users/${seg(of.user)}/quota` : of?.group !== undefined ? `/groups/${seg(of.group)}/quota` : '/quota';
    return this.#call('GET', path, quotaView, undefined, o);
  }
  setQuota(of: { readonly user: string } | { readonly group: string }, body: SetQuotaBody, o?: WaitOptions): Promise<QuotaView> {
    return this.#call('PUT', 'user' in of ? `/users/${seg(of.user)}/quota` : `/groups/${seg(of.group)}/quota`, quotaView, body, o);
  }
}
