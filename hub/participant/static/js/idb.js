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

export async function remember(payload, shown) {
  const list = (await alerts()).filter((a) => a.action !== payload.action);
  const before = (await alerts()).find((a) => a.action === payload.action);
  list.unshift({ ...payload, shown: shown || (before && before.shown) || false, received: new Date().toISOString() });
  await put("alerts", list.slice(0, 50));
}
