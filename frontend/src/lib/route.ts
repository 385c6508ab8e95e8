// Hash routes ("#/result/<id>"): the service serves one page, whatever the route.
import { useEffect, useState } from "react";

export interface Route {
  page: string;
  args: string[];
  query: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const [path, search] = hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] ?? "data", args: parts.slice(1), query: new URLSearchParams(search ?? "") };
}

export function go(path: string): void {
  window.location.hash = path.startsWith("#") ? path : `#${path}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}
