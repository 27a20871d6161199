// A stand-in for the browser's IndexedDB, as much as idb.js uses: one key-value store whose
// requests answer before their transaction completes. Sets globalThis.indexedDB; returns its contents.
export function fakeIndexedDB() {
  const kv = new Map();
  const store = {
    get(key) {
      const req = {};
      queueMicrotask(() => {
        req.result = structuredClone(kv.get(key));
        req.onsuccess();
      });
      return req;
    },
    put(value, key) {
      kv.set(key, structuredClone(value));
    },
  };
  const db = {
    transaction() {
      const tx = { objectStore: () => store };
      setTimeout(() => tx.oncomplete && tx.oncomplete());
      return tx;
    },
  };
  globalThis.indexedDB = {
    open() {
      const req = {};
      queueMicrotask(() => {
        req.result = db;
        req.onsuccess();
      });
      return req;
    },
  };
  return kv;
}
