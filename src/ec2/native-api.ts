/**
 * The native API as the EC2 adaptor uses it: every action goes through the
 * native routes as the calling user, so that the access rules, quotas and
 * validation are the native API's own — never a second implementation. The
 * controller provides it in-process (`src/controller/api/in-process-caller.ts`).
 */
export interface NativeApi {
  /**
   * @returns the answer's JSON body (undefined for an empty one)
   * @throws RemoteError (client/remote-error.ts) with the native status, code, message and details
   */
  call<T>(userId: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T>;
}
