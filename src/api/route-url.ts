/** Fills the :params of a route's URL. */
export function routeUrl(url: string, params: Record<string, string> | undefined): string {
  return url.replace(/:(\w+)/g, (_, k: string) => encodeURIComponent(params?.[k] ?? ''));
}
