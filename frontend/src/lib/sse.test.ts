import { parseEvents } from "./sse";

describe("parseEvents", () => {
  it("splits complete events, skips comments and keeps the unfinished rest", () => {
    const { events, rest } = parseEvents('data: {"a":1}\n\n: keep-alive\n\ndata: {"b":2}\n\ndata: {"c"');
    expect(events).toEqual(['{"a":1}', '{"b":2}']);
    expect(rest).toBe('data: {"c"');
  });
});
