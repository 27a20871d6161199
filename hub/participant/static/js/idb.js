// A tiny IndexedDB key-value store shared by the page and the service worker: the alerts the device
// received (so they stay readable offline) and the device's last known position (never sent anywhere).

const DB = "burgerhub-participant";
const STORE = "kv";

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export async function get(key) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const req = db.transaction(STORE).objectStore(STORE).get(key);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export async function put(key, value) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, "readwrite");
    tx.objectStore(STORE).put(value, key);
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}

// Alerts, newest first, one entry per action (a later message of the same action replaces it).
export async function alerts() {
  return (await get("alerts")) || [];
}

// Read and write the list in one transaction: pushes handled at the same time never lose each other.
export async function remember(payload, shown) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, "readwrite");
    const store = tx.objectStore(STORE);
    const req = store.get("alerts");
    req.onsuccess = () => {
      const old = req.result || [];
      const before = old.find((a) => a.action === payload.action);
      const list = old.filter((a) => a.action !== payload.action);
      list.unshift({ ...payload, shown: shown || (before && before.shown) || false, received: new Date().toISOString() });
      store.put(list.slice(0, 50), "alerts");
    };
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}
