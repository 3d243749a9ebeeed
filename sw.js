// Deviate's service worker: after the first visit the page works offline. The app shell is
// cached on install and refreshed from the network whenever it is reachable (network first,
// revalidated so a redeploy is seen at once); the model files are not handled here: the worker
// keeps them in its own sha256-checked cache. All paths are relative to this file, so the page
// works from a sub-path (e.g. GitHub Pages' /<repo>/). `make site` rewrites the two lines
// below: the cache is named after the build and the shell lists the content-hashed files.
const CACHE = 'deviate-app-dev';
const SHELL = ['./', 'index.html', 'www/main.js', 'www/worker.js', 'www/style.css', 'pkg/deviate.js', 'pkg/deviate_bg.wasm', 'www/data/toy_prefs.json', 'www/models/manifest.json'];

const ROOT = new URL('./', self.location.href).href;
const MODELS = new URL('www/models/', ROOT).href;

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

// Earlier builds' shells are dropped; the models' cache (deviate-models-*) is kept.
self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith('deviate-app-') && n !== CACHE).map((n) => caches.delete(n)));
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  const model = url.href.startsWith(MODELS) && !url.pathname.endsWith('/manifest.json');
  if (event.request.method !== 'GET' || url.origin !== self.location.origin || model) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const key = url.href.split(/[?#]/)[0] === ROOT ? './' : event.request;
    try {
      const response = await fetch(event.request, { cache: 'no-cache' });
      if (response.ok) await cache.put(key, response.clone());
      return response;
    } catch (error) {
      const cached = await cache.match(key, { ignoreSearch: true });
      if (cached) return cached;
      throw error;
    }
  })());
});
