// The token lives in sessionStorage: gone when the tab closes, never sent anywhere but the API's Authorization header.
const KEY = 'nubo.token';

export const savedToken = (): string | null => sessionStorage.getItem(KEY);
export const saveToken = (token: string): void => sessionStorage.setItem(KEY, token);
export const forgetToken = (): void => sessionStorage.removeItem(KEY);
