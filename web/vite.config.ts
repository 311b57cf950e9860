import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * The dashboard: built into web/dist, which the daemon serves at `/`.
 * Everything is bundled (no CDN), so it works with no internet.
 * `npm run dev:web` proxies the API to a daemon (BOTHUB_URL, default http://127.0.0.1:7070).
 */
const daemon = process.env.BOTHUB_URL ?? 'http://127.0.0.1:7070';

export default defineConfig({
  root: new URL('.', import.meta.url).pathname,
  base: '/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 800 },
  server: { proxy: { '/api': { target: daemon, ws: true, changeOrigin: false } } },
});
