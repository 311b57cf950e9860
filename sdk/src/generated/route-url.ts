// GENERATED from src/api/route-url.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
/** Fills the :params of a route's URL. */
export function routeUrl(url: string, params: Record<string, string> | undefined): string {
  return url.replace(/:(\w+)/g, (_, k: string) => encodeURIComponent(params?.[k] ?? ''));
}
