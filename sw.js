// Deviate's service worker: after the first visit the page works offline. The app shell is
// cached on install and refreshed from the network whenever it is reachable (network first);
// the model files are not handled here: the worker keeps them in its own sha256-checked cache.
const CACHE = 'deviate-app-v1';
const SHELL = [
  './', 'index.html', 'www/main.js', 'www/worker.js', 'www/style.css', 'pkg/deviate.js', 'pkg/deviate_bg.wasm',
  'www/data/toy_prefs.json', 'www/models/manifest.json',
];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => { event.waitUntil(self.clients.claim()); });

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin || url.pathname.includes('/www/models/') && !url.pathname.endsWith('manifest.json')) {
    return;
  }
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(event.request);
      if (response.ok) await cache.put(url.pathname === '/' ? './' : event.request, response.clone());
      return response;
    } catch (error) {
      const cached = await cache.match(event.request, { ignoreSearch: true }) ?? (url.pathname.endsWith('/') ? await cache.match('./') : undefined);
      if (cached) return cached;
      throw error;
    }
  })());
});
