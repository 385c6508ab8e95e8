// Server-Sent Events read with fetch (EventSource cannot send the bearer token).
import { authFetch } from "../api/client";
import type { ProgressEvent } from "../api/types";

/** Split a chunk of an event stream into complete ``data:`` payloads and the unfinished rest. */
export function parseEvents(buffer: string): { events: string[]; rest: string } {
  const blocks = buffer.split(/\r?\n\r?\n/);
  const rest = blocks.pop() ?? "";
  const events: string[] = [];
  for (const block of blocks) {
    const data = block
      .split(/\r?\n/)
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).trimStart());
    if (data.length) events.push(data.join("\n"));
  }
  return { events, rest };
}

/** Follow a job's progress until it ends; ``onEvent`` sees every event, the last is returned. */
export async function followJob(
  jobId: string,
  onEvent: (e: ProgressEvent) => void,
  signal?: AbortSignal,
): Promise<ProgressEvent | null> {
  const response = await authFetch(new Request(`/api/jobs/${encodeURIComponent(jobId)}/events`, { signal }));
  if (!response.ok || !response.body) return null;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let last: ProgressEvent | null = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    const { events, rest } = parseEvents(buffer);
    buffer = rest;
    for (const text of events) {
      last = JSON.parse(text) as ProgressEvent;
      onEvent(last);
    }
  }
  return last;
}
