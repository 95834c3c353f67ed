// The admin credential lives in sessionStorage only: gone when the tab closes, never in
// localStorage, cookies or the URL.
const NAME = "pllm.admin.key";

export interface KeyStore {
  getItem(name: string): string | null;
  setItem(name: string, value: string): void;
  removeItem(name: string): void;
}

export function loadKey(store: KeyStore): string | null {
  const key = store.getItem(NAME);
  return key && key.trim() ? key : null;
}

export function saveKey(store: KeyStore, key: string): void {
  store.setItem(NAME, key.trim());
}

export function clearKey(store: KeyStore): void {
  store.removeItem(NAME);
}
