// The page's entry: load the wasm and mount the Leptos app (src/web/app.rs).
import init, { start_app } from '../pkg/deviate.js';

// Offline after the first visit (sw.js); the page works without it, so a refusal is only logged.
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('sw.js').catch((error) => console.warn(`offline mode unavailable: ${error}`));
}

try {
  await init();
  // The worker's address from this module's (a built site names both by their content hash).
  start_app(new URL('worker.js', import.meta.url).href);
} catch (error) {
  const p = document.createElement('p');
  p.className = 'fatal';
  p.setAttribute('role', 'alert');
  p.textContent = `Deviate could not start: ${error}. Was the wasm built (make serve)?`;
  document.body.append(p);
}
